"""The Celery worker process: every service's consumers and tasks, and the beat schedule
(`celery -A services.worker:celery beat`). The relay (services/relay.py) imports it too, for the
consumer registry and the Celery app."""

from __future__ import annotations

import importlib
import logging

from shared.config import DATABASE_SETTINGS, SERVICES, load_config
from shared.events import DeadLetters, DeliveryLedger, make_celery, register_event_tasks, service_engines
from shared.logging import configure_logging

config = load_config("worker", settings=DATABASE_SETTINGS)
configure_logging("worker", config.LOG_LEVEL)
# Celery's two INFO lines per task ("received", "succeeded") cost more CPU than a small consumer
# itself; failures, retries and dead letters are still logged (WARNING and up).
for _chatty in ("celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(_chatty).setLevel(max(logging.getLevelName(config.LOG_LEVEL), logging.WARNING))
celery = make_celery(config)
beat_schedule: dict[str, dict] = {}
for _service in SERVICES:
    _tasks = importlib.import_module(f"services.{_service}.tasks")
    beat_schedule.update(getattr(_tasks, "BEAT_SCHEDULE", {}))
celery.conf.beat_schedule = beat_schedule
_engines = service_engines(config)
register_event_tasks(celery, ledger=DeliveryLedger(_engines), dead_letters=DeadLetters(_engines))
