"""Celery tasks of the hug service: thin, idempotent shells over service.py."""
