"""The Celery worker process: every service's consumers, and the event dispatch task."""

from __future__ import annotations

import importlib

from shared.config import DATABASE_SETTINGS, SERVICES, load_config
from shared.events import make_celery, register_event_tasks
from shared.logging import configure_logging

config = load_config("worker", settings=DATABASE_SETTINGS)
configure_logging("worker", config.LOG_LEVEL)
celery = make_celery(config)
for _service in SERVICES:
    importlib.import_module(f"services.{_service}.tasks")
register_event_tasks(celery)
