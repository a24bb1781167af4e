"""Transactional outbox, relay to Celery, and idempotent consumers."""

from __future__ import annotations

import contextlib
import json
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


# The relay LISTENs here; PostgreSQL delivers a NOTIFY only when its transaction commits, so the
# relay wakes as soon as a row is visible instead of on its next idle pass.
RELAY_CHANNEL = "hugmood_outbox"
# Event data keys that carry a secret. Consumers receive them; the stored outbox row is blanked of
# them as soon as the event is published, so the database keeps no usable secret.
SECRET_DATA_KEYS = ("token",)


def publish(session: Session, model: type, event_type: str, data: dict[str, Any]) -> uuid.UUID:
    """Add an event to the outbox in the caller's transaction; it leaves only if that commits."""
    event_id = uuid.uuid4()
    session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": RELAY_CHANNEL})
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


# The hard limit of any task; the visibility timeout must exceed it plus the longest retry delay.
TASK_TIME_LIMIT_SECONDS = 120


def make_celery(config: Config, name: str = "hugmood") -> Celery:
    """A Celery app configured not to lose work: late acks, requeue on worker loss, prefetch 1."""
    visibility = config.get("CELERY_VISIBILITY_TIMEOUT_SECONDS", 300)
    app = Celery(name, broker=config.CELERY_BROKER_URL or config.REDIS_URL)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_acks_on_failure_or_timeout=False,
        broker_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        task_default_queue=EVENTS_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        task_time_limit=TASK_TIME_LIMIT_SECONDS,
        task_soft_time_limit=TASK_TIME_LIMIT_SECONDS - 30,
        hugmood_event_max_retries=config.get("EVENT_MAX_RETRIES", 10),
        hugmood_event_retry_max_seconds=config.get("EVENT_RETRY_MAX_SECONDS", 60),
    )
    return app


def consumer_service(consumer_name: str) -> str:
    """The service a consumer belongs to: the part of its name before the dot ("mood.streaks")."""
    return consumer_name.split(".", 1)[0]


class DeadLetters:
    """Events a consumer gave up on, kept in the consuming service's own `dead_letters` table.

    Each service's table is written with that service's own database role, like the rest of its
    data. An admin retries them with `python -m shared.events retry-dead-letters`.
    """

    def __init__(self, engine_for: Callable[[str], Engine]):
        self.engine_for = engine_for

    def record(self, consumer_name: str, event: dict[str, Any], error: str) -> None:
        service = consumer_service(consumer_name)
        with self.engine_for(service).begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO {_schema(service)}.dead_letters (id, event_id, consumer, event, error) "
                    "VALUES (:id, :event_id, :consumer, CAST(:event AS jsonb), :error)"
                ),
                {
                    "id": uuid.uuid4(),
                    "event_id": uuid.UUID(event["id"]),
                    "consumer": consumer_name,
                    "event": json.dumps(event),
                    "error": error[:2000],
                },
            )
        log.error("event dead-lettered", extra={"consumer": consumer_name, "event_id": event["id"]})

    def waiting(self, service: str) -> list[dict[str, Any]]:
        """Dead letters of `service` not yet retried, oldest first."""
        with self.engine_for(service).connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT id, event_id, consumer, event, error, failed_at FROM {_schema(service)}.dead_letters "
                    "WHERE retried_at IS NULL ORDER BY failed_at"
                )
            ).mappings()
            return [dict(row) for row in rows]

    def retry(self, service: str, send: Callable[[str, dict[str, Any]], None], ids: Iterable[str] = ()) -> int:
        """Send waiting dead letters (all, or those with `ids`) back to their consumers; mark them retried."""
        wanted = {str(i) for i in ids}
        retried = 0
        with self.engine_for(service).begin() as conn:
            rows = conn.execute(
                text(
                    f"SELECT id, consumer, event FROM {_schema(service)}.dead_letters "
                    "WHERE retried_at IS NULL ORDER BY failed_at FOR UPDATE SKIP LOCKED"
                )
            ).all()
            for row in rows:
                if wanted and str(row.id) not in wanted:
                    continue
                send(row.consumer, row.event)
                conn.execute(
                    text(f"UPDATE {_schema(service)}.dead_letters SET retried_at = now() WHERE id = :id"),
                    {"id": row.id},
                )
                retried += 1
        return retried


def _schema(service: str) -> str:
    from shared.db import schema_name

    return schema_name(service)


def service_engines(config: Config, pool_size: int = 1) -> Callable[[str], Engine]:
    """One engine per service, each connecting as that service's own role, made on first use."""
    from sqlalchemy import create_engine

    from shared.db import service_database_url

    engines: dict[str, Engine] = {}
    lock = threading.Lock()

    def engine_for(service: str) -> Engine:
        with lock:
            if service not in engines:
                engines[service] = create_engine(
                    service_database_url(service, config), pool_pre_ping=True, pool_size=pool_size
                )
            return engines[service]

    return engine_for


def register_event_tasks(
    app: Celery, consumers: ConsumerRegistry = registry, dead_letters: DeadLetters | None = None
) -> None:
    """Define the dispatch task (fan-out per consumer) and the consume task on `app`.

    A consumer that still fails after its last retry is dead-lettered when `dead_letters` is given.
    """
    max_retries = app.conf.hugmood_event_max_retries
    longest_delay = app.conf.hugmood_event_retry_max_seconds

    @app.task(name=CONSUME_TASK, bind=True, max_retries=max_retries, acks_late=True, shared=False)
    def consume(self: Any, consumer_name: str, event: dict[str, Any]) -> None:
        try:
            consumers.find(event["type"], consumer_name).handler(event)
        except Exception as exc:
            log.warning("consumer failed", extra={"consumer": consumer_name, "event_id": event["id"]})
            if self.request.retries >= max_retries and dead_letters is not None:
                dead_letters.record(consumer_name, event, f"{type(exc).__name__}: {exc}")
                return
            raise self.retry(exc=exc, countdown=min(2**self.request.retries, longest_delay)) from exc

    @app.task(name=DISPATCH_TASK, acks_late=True, shared=False)
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
            scrubbed = "payload"
            for key in SECRET_DATA_KEYS:
                scrubbed = f"({scrubbed} #- '{{data,{key}}}')"
            conn.execute(
                text(f"UPDATE {schema}.outbox SET published_at = now(), payload = {scrubbed} WHERE id = ANY(:ids)"),
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


class OutboxWakeup:
    """Waits for a NOTIFY on the relay channel, or `timeout` seconds, whichever comes first.

    The notification only shortens the wait: every pass still reads the outbox, so a missed
    notification (say, while reconnecting) delays an event by at most one idle pass.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.conn: Any = None

    def _listen(self) -> Any:
        import psycopg2

        # A connection of its own, outside the engine's pool: a LISTEN outlives any transaction.
        conn = psycopg2.connect(self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f"LISTEN {RELAY_CHANNEL}")
        return conn

    def wait(self, timeout: float) -> None:
        import select
        import time

        try:
            if self.conn is None:
                self.conn = self._listen()
            if not self.conn.notifies and select.select([self.conn], [], [], timeout)[0]:
                self.conn.poll()
            self.conn.notifies.clear()
        except Exception:
            log.warning("relay wake-up connection lost; polling until it is back")
            self.close()
            time.sleep(timeout)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


def relay_forever(
    engines: Iterable[tuple[str, Engine]],
    send: Callable[[dict[str, Any]], None],
    *,
    idle_sleep: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Loop over every schema's outbox until told to stop, sleeping between passes until NOTIFY."""
    from shared.metrics import OUTBOX_PENDING

    engines = list(engines)
    wakeup = OutboxWakeup(engines[0][1])
    try:
        while not should_stop():
            moved = 0
            for schema, engine in engines:
                try:
                    moved += relay_batch(engine, schema, send)
                    OUTBOX_PENDING.labels(schema).set(pending_count(engine, schema))
                except Exception:
                    log.exception("relay pass failed", extra={"schema": schema})
            if not moved:
                wakeup.wait(idle_sleep)
    finally:
        wakeup.close()


def consume_sender(app: Celery) -> Callable[[str, dict[str, Any]], None]:
    """Send an event straight to one consumer (an admin retry of a dead letter)."""

    def send(consumer_name: str, event: dict[str, Any]) -> None:
        app.send_task(CONSUME_TASK, args=(consumer_name, event), queue=EVENTS_QUEUE)

    return send


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.events [relay | dead-letters | retry-dead-letters]`: the relay, or dead-letter admin."""
    import argparse
    import signal

    from shared.config import DATABASE_SETTINGS, SERVICES, load_config
    from shared.db import schema_name
    from shared.logging import configure_logging

    parser = argparse.ArgumentParser(prog="python -m shared.events")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("relay", help="move outbox rows to Celery (the default)")
    listing = commands.add_parser("dead-letters", help="list events consumers gave up on")
    listing.add_argument("--service", choices=SERVICES, action="append")
    retrying = commands.add_parser("retry-dead-letters", help="send dead-lettered events back to their consumer")
    retrying.add_argument("--service", choices=SERVICES, action="append")
    retrying.add_argument("--id", action="append", default=[], help="only these dead letters (default: all)")
    args = parser.parse_args(argv)

    config = load_config("relay", settings=DATABASE_SETTINGS)
    configure_logging("relay", config.LOG_LEVEL)
    engine_for = service_engines(config)
    if args.command in ("dead-letters", "retry-dead-letters"):
        dead_letters = DeadLetters(engine_for)
        for service in args.service or SERVICES:
            if args.command == "dead-letters":
                for row in dead_letters.waiting(service):
                    print(json.dumps({**row, "service": service}, default=str))
            else:
                count = dead_letters.retry(service, consume_sender(make_celery(config)), args.id)
                print(json.dumps({"service": service, "retried": count}))
        return 0

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    engines = [(schema_name(s), engine_for(s)) for s in SERVICES]
    log.info("relay started", extra={"schemas": [s for s, _ in engines]})
    relay_forever(engines, celery_sender(make_celery(config)), should_stop=lambda: bool(stopping))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
