"""Transactional outbox, relay to Celery, and idempotent consumers."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from sqlalchemy import DateTime, Index, Integer, String, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from shared.config import Config

log = logging.getLogger("hugmood.events")
DISPATCH_TASK = "hugmood.events.dispatch"
CONSUME_TASK = "hugmood.events.consume"
EVENTS_QUEUE = "events"


class OutboxMixin:
    """The outbox table every publishing service has in its own schema."""

    __tablename__ = "outbox"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index("ix_outbox_pending", "created_at", postgresql_where=text("published_at IS NULL")),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ProcessedEventMixin:
    """Event ids a consumer has acted on; the primary key makes redelivery a no-op."""

    __tablename__ = "processed_events"

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def publish(session: Session, model: type, event_type: str, data: dict[str, Any]) -> uuid.UUID:
    """Add an event to the outbox in the caller's transaction; it leaves only if that commits."""
    event_id = uuid.uuid4()
    session.add(
        model(
            id=event_id,
            event_type=event_type,
            payload={
                "id": str(event_id),
                "type": event_type,
                "occurred_at": datetime.now(UTC).isoformat(),
                "data": data,
            },
        )
    )
    return event_id


def claim_once(session: Session, model: type, event_id: str, consumer: str) -> bool:
    """Record that `consumer` handles `event_id`; False if it already did (same transaction)."""
    table = model.__table__
    result = session.execute(
        insert(table)
        .values(event_id=uuid.UUID(event_id), consumer=consumer)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return result.first() is not None


@dataclass(frozen=True)
class Consumer:
    """A handler subscribed to one event type."""

    event_type: str
    name: str
    handler: Callable[[dict[str, Any]], None]


class ConsumerRegistry:
    """Which handlers each event type fans out to, collected from the services' tasks modules."""

    def __init__(self) -> None:
        self.by_type: dict[str, list[Consumer]] = defaultdict(list)

    def subscribe(self, event_type: str, name: str) -> Callable[[Callable], Callable]:
        def register(handler: Callable[[dict[str, Any]], None]) -> Callable:
            self.by_type[event_type].append(Consumer(event_type, name, handler))
            return handler

        return register

    def find(self, event_type: str, name: str) -> Consumer:
        for consumer in self.by_type.get(event_type, []):
            if consumer.name == name:
                return consumer
        raise LookupError(f"no consumer {name} for {event_type}")


registry = ConsumerRegistry()


def lazy_app(factory: Callable[[], Any]) -> Callable[[], Any]:
    """The service's Flask app, built once per worker process on first use (consumers need its db)."""
    built: list[Any] = []
    lock = threading.Lock()

    def get() -> Any:
        if not built:
            with lock:
                if not built:
                    built.append(factory())
        return built[0]

    return get


def make_celery(config: Config, name: str = "hugmood") -> Celery:
    """A Celery app configured not to lose work: late acks, requeue on worker loss, prefetch 1."""
    app = Celery(name, broker=config.CELERY_BROKER_URL)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_acks_on_failure_or_timeout=False,
        broker_transport_options={"visibility_timeout": 300},
        broker_connection_retry_on_startup=True,
        task_default_queue=EVENTS_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        task_time_limit=120,
        task_soft_time_limit=90,
    )
    return app


def register_event_tasks(app: Celery, consumers: ConsumerRegistry = registry) -> None:
    """Define the dispatch task (fan-out per consumer) and the consume task on `app`."""

    @app.task(name=CONSUME_TASK, bind=True, max_retries=10, acks_late=True)
    def consume(self: Any, consumer_name: str, event: dict[str, Any]) -> None:
        try:
            consumers.find(event["type"], consumer_name).handler(event)
        except Exception as exc:
            log.warning("consumer failed", extra={"consumer": consumer_name, "event_id": event["id"]})
            raise self.retry(exc=exc, countdown=min(2**self.request.retries, 300)) from exc

    @app.task(name=DISPATCH_TASK, acks_late=True)
    def dispatch(event: dict[str, Any]) -> int:
        subscribed = consumers.by_type.get(event["type"], [])
        for consumer in subscribed:
            consume.apply_async(args=(consumer.name, event), queue=EVENTS_QUEUE)
        if not subscribed:
            log.info("event has no consumers", extra={"event_type": event["type"], "event_id": event["id"]})
        return len(subscribed)


def relay_batch(engine: Engine, schema: str, send: Callable[[dict[str, Any]], None], batch: int = 100) -> int:
    """Publish up to `batch` pending outbox rows of `schema`; return how many went out.

    Rows are locked with SKIP LOCKED so several relays never publish one row concurrently. A crash
    between sending and marking republishes the row: consumers are idempotent by event id.
    """
    sent = 0
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                f"SELECT id, payload FROM {schema}.outbox WHERE published_at IS NULL "
                "ORDER BY created_at, id LIMIT :n FOR UPDATE SKIP LOCKED"
            ),
            {"n": batch},
        ).all()
        published: list[uuid.UUID] = []
        for row in rows:
            try:
                send(row.payload)
            except Exception as exc:  # broker down: keep the row, count the attempt
                conn.execute(
                    text(f"UPDATE {schema}.outbox SET attempts = attempts + 1, last_error = :e WHERE id = :id"),
                    {"e": str(exc)[:500], "id": row.id},
                )
                break
            published.append(row.id)
        if published:
            conn.execute(
                text(f"UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY(:ids)"),
                {"ids": published},
            )
            sent = len(published)
    return sent


def pending_count(engine: Engine, schema: str) -> int:
    """Outbox rows of `schema` not yet published."""
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")).scalar_one()


def celery_sender(app: Celery) -> Callable[[dict[str, Any]], None]:
    """Send an event to the dispatch task on the events queue."""

    def send(event: dict[str, Any]) -> None:
        app.send_task(DISPATCH_TASK, args=(event,), queue=EVENTS_QUEUE, retry=False)

    return send


def relay_forever(
    engines: Iterable[tuple[str, Engine]],
    send: Callable[[dict[str, Any]], None],
    *,
    idle_sleep: float = 0.2,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Loop over every schema's outbox until told to stop."""
    import time

    from shared.metrics import OUTBOX_PENDING

    engines = list(engines)
    while not should_stop():
        moved = 0
        for schema, engine in engines:
            try:
                moved += relay_batch(engine, schema, send)
                OUTBOX_PENDING.labels(schema).set(pending_count(engine, schema))
            except Exception:
                log.exception("relay pass failed", extra={"schema": schema})
        if not moved:
            time.sleep(idle_sleep)


def main() -> None:
    """`python -m shared.events`: the outbox relay process."""
    import signal

    from sqlalchemy import create_engine

    from shared.config import DATABASE_SETTINGS, SERVICES, load_config
    from shared.db import schema_name, service_database_url
    from shared.logging import configure_logging

    config = load_config("relay", settings=DATABASE_SETTINGS)
    configure_logging("relay", config.LOG_LEVEL)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    engines = [
        (schema_name(s), create_engine(service_database_url(s, config), pool_pre_ping=True, pool_size=1))
        for s in SERVICES
    ]
    log.info("relay started", extra={"schemas": [s for s, _ in engines]})
    relay_forever(engines, celery_sender(make_celery(config)), should_stop=lambda: bool(stopping))


if __name__ == "__main__":
    main()
