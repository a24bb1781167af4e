"""Celery tasks of the notification service: thin, idempotent shells over service.py."""
