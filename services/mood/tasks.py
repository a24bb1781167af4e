"""Celery tasks of the mood service: thin, idempotent shells over service.py."""
