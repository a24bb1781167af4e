"""Celery tasks of the social service: thin, idempotent shells over service.py."""
