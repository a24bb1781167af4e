"""Celery tasks of the user service: thin, idempotent shells over service.py."""
