"""The Celery worker process: every service's consumers and tasks, and the beat schedule
(`celery -A services.worker:celery beat`). The relay (services/relay.py) imports it too, for the
consumer registry and the Celery app."""

from __future__ import annotations

import importlib
import logging
import os
import sys

from shared.serving import multiprocess_dir

_celery_worker = os.path.basename(sys.argv[0]) == "celery" and "worker" in sys.argv[1:]
if _celery_worker and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # `celery ... worker`: the prefork children count task outcomes into files the main process
    # serves (WORKER_METRICS_PORT). Set before prometheus_client is first imported.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir("worker")

from celery import signals  # noqa: E402

from shared.config import DATABASE_SETTINGS, SERVICES, load_config  # noqa: E402
from shared.events import DeadLetters, DeliveryLedger, make_celery, register_event_tasks, service_engines  # noqa: E402
from shared.logging import configure_logging  # noqa: E402

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


@signals.worker_ready.connect
def _serve_metrics(**_: object) -> None:
    from shared.metrics import serve_metrics

    serve_metrics(config.WORKER_METRICS_PORT, os.environ.get("BIND_HOST", "127.0.0.1"))


@signals.worker_process_shutdown.connect
def _forget_child_gauges(pid: int | None = None, **_: object) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
