"""The outbox relay process (`python -m services.relay`): sends every service's committed outbox rows
to the consumers registered in the worker, and sends again what a consumer has not finished."""

from __future__ import annotations

from services.worker import celery, config
from shared.events import registry, run_relay
from shared.logging import configure_logging

if __name__ == "__main__":
    configure_logging("relay", config.LOG_LEVEL)
    run_relay(config, celery, registry)
