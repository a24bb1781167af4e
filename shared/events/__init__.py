"""Transactional outbox, relay to Celery, and idempotent consumers with a delivery ledger.

- `outbox`: what a publishing service writes in its own transaction (publish, OutboxMixin), and
  what a consumer records to act once (claim_once, ProcessedEventMixin).
- `consumers`: the handler registry, the Celery app and consume task, the delivery ledger and
  dead letters.
- `relay`: moves outbox rows to their consumers and sends again what was not finished: what the
  broker lost within seconds, anything else after a long timeout.
"""

from shared.events.consumers import (
    CONSUME_TASK,
    EVENTS_QUEUE,
    TASK_TIME_LIMIT_SECONDS,
    Consumer,
    ConsumerRegistry,
    DeadLetters,
    DeliveryLedger,
    Holdings,
    LazyApp,
    broker_holdings,
    consume_sender,
    consumer_service,
    lazy_app,
    make_celery,
    register_event_tasks,
    registry,
    resend_queue,
    route_task,
    service_engines,
    service_queue,
)
from shared.events.outbox import (
    RELAY_CHANNEL,
    SECRET_DATA_KEYS,
    OutboxMixin,
    ProcessedEventMixin,
    claim_once,
    publish,
)
from shared.events.relay import (
    OutboxWakeup,
    outbox_backlog,
    prune,
    redeliver_lost,
    redeliver_stale,
    relay_batch,
    relay_forever,
    run_relay,
)

__all__ = [
    "CONSUME_TASK",
    "EVENTS_QUEUE",
    "RELAY_CHANNEL",
    "SECRET_DATA_KEYS",
    "TASK_TIME_LIMIT_SECONDS",
    "Consumer",
    "ConsumerRegistry",
    "DeadLetters",
    "DeliveryLedger",
    "Holdings",
    "OutboxMixin",
    "OutboxWakeup",
    "ProcessedEventMixin",
    "broker_holdings",
    "claim_once",
    "consume_sender",
    "consumer_service",
    "LazyApp",
    "lazy_app",
    "make_celery",
    "outbox_backlog",
    "prune",
    "publish",
    "redeliver_lost",
    "redeliver_stale",
    "register_event_tasks",
    "resend_queue",
    "route_task",
    "service_queue",
    "registry",
    "relay_batch",
    "relay_forever",
    "run_relay",
    "service_engines",
]
