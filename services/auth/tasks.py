"""Celery tasks of the auth service: it consumes no events yet; it only publishes."""
