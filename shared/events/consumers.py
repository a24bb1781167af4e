"""Consumers: the registry of handlers, the Celery app and consume task, and the stores that make
delivery durable end to end (the per-consumer delivery ledger and dead letters)."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu import Queue
from kombu.transport import redis as kombu_redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from shared.config import SCHEMAS, WORKER_PRIORITY, Config
from shared.db import ping_when_idle, service_database_url, statement_connection
from shared.events.outbox import FORGET_WHEN_DELIVERED, SECRET_DATA_KEYS, scrubbed_payload
from shared.metrics import TASKS
from shared.sqlstate import is_erasure_refusal

log = logging.getLogger("hugmood.events")
CONSUME_TASK = "hugmood.events.consume"
EVENTS_QUEUE = "events"
# The hard limit of any task. A worker renews its hold on every message it has (running, waiting
# for a free process, or waiting for a retry's countdown), so the visibility timeout need not
# exceed any of these: it is how long the messages of a worker that died stay invisible.
TASK_TIME_LIMIT_SECONDS = 120
# The default visibility timeout (CELERY_VISIBILITY_TIMEOUT_SECONDS), and how many times within
# it a worker renews its hold on its messages.
VISIBILITY_TIMEOUT_SECONDS = 30
LEASE_RENEWALS_PER_TIMEOUT = 3
# How often (seconds, at most) a worker looks for messages whose holder stopped renewing them.
RESTORE_INTERVAL_SECONDS = 5


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


class LazyApp:
    """The service's Flask app, built once per worker process on first use (consumers need its db).

    `override` makes it answer with another app while a block runs: a test runs the consumers on
    the app it made.
    """

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._built: list[Any] = []
        self._lock = threading.Lock()
        self._override: Any = None

    def __call__(self) -> Any:
        if self._override is not None:
            return self._override
        if not self._built:
            with self._lock:
                if not self._built:
                    self._built.append(self._factory())
        return self._built[0]

    @contextlib.contextmanager
    def override(self, app: Any) -> Iterator[None]:
        """Answer with `app` instead until the block ends."""
        previous, self._override = self._override, app
        try:
            yield
        finally:
            self._override = previous


def lazy_app(factory: Callable[[], Any]) -> LazyApp:
    """The service's Flask app, built on first use (see LazyApp)."""
    return LazyApp(factory)


class _RedisQoS(kombu_redis.QoS):
    """kombu's Redis acknowledgement emulation, with a lease on what a worker holds.

    kombu records each message a worker takes in the `unacked` hash, stamped with the time it was
    taken, and any worker puts a message back in its queue once that stamp is older than the
    visibility timeout. Out of the box the stamp never moves, so the timeout has to exceed the
    longest task plus the longest retry countdown, and the messages of a worker killed mid-stream
    come back only that long after (minutes). Here a worker re-stamps what it still holds every
    third of the timeout (`renew`), so the timeout can be short: a live worker's messages never
    expire, a dead worker's come back within the timeout.
    """

    def renew(self) -> int:
        """Stamp every message this worker still holds as taken now; return how many."""
        tags = [tag for tag in list(self._delivered) if tag not in self._dirty]
        if not tags:
            return 0
        now = time.time()
        with self.channel.conn_or_acquire() as client:
            # XX: only members still there. One another worker put back meanwhile stays put back (it
            # runs twice; consumers are idempotent), and an acknowledged one is not brought back.
            client.zadd(self.unacked_index_key, dict.fromkeys(tags, now), xx=True)
        return len(tags)

    def restore_unacked(self, client: Any = None) -> Any:
        try:
            return super().restore_unacked(client)
        except (AttributeError, redis.ConnectionError):
            # Closing a channel after Redis went away: the unacked messages cannot be put back now.
            # They are still in Redis' unacked hash, and the visibility timeout brings them back.
            log.warning("unacknowledged messages left to the visibility timeout (the broker connection is gone)")
            self._delivered.clear()
            return None


class _RedisChannel(kombu_redis.Channel):
    QoS = _RedisQoS
    _shared_client: tuple[Any, Any] | None = None  # (pool, client): see _create_client

    def _connparams(self, asynchronous: bool = False) -> Any:
        # kombu 5.7 keeps using a channel after its connection was torn down (acking a task that
        # finished across a reconnect, requeueing on close) and fails with AttributeError, which
        # kills the whole worker ("Unrecoverable error"). A connection error instead is one kombu
        # and Celery handle: the ack is logged as lost and the message comes back after the
        # visibility timeout; consumers are idempotent.
        if self.connection is None or self.connection.client is None:
            raise redis.ConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)

    def _create_client(self, asynchronous: bool = False) -> Any:
        # kombu makes a new redis.Redis for every command it sends outside the consuming loop (each
        # publish, each ack), and redis-py copies its table of ~170 response callbacks into every
        # new client, so every publish and ack would pay for building one: a cost on every event in
        # the worker and the relay. Such a client holds no connection (each command takes one from the pool and gives
        # it back), so one per pool serves them all. The consuming loop's clients (asynchronous:
        # `client` for BRPOP and `subclient`, each pinned to a connection of its own) stay kombu's.
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        if self._shared_client is None or self._shared_client[0] is not pool:  # a new pool: a new client
            self._shared_client = (pool, super()._create_client())
        return self._shared_client[1]


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, except that losing the broker does not crash the worker, and a
    worker holds its messages on a lease it renews (see _RedisQoS)."""

    Channel = _RedisChannel

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        super().register_with_event_loop(connection, loop)
        cycle = self.cycle
        previous = getattr(cycle, "_hugmood_renew_tref", None)
        if previous is not None:  # a reconnect registers again: one renewal timer, not one per connection
            previous.cancel()
        timeout = connection.client.transport_options.get("visibility_timeout", VISIBILITY_TIMEOUT_SECONDS)
        cycle._hugmood_renew_tref = loop.call_repeatedly(
            max(timeout / LEASE_RENEWALS_PER_TIMEOUT, 0.5), functools.partial(self.renew_leases, cycle)
        )

    @staticmethod
    def renew_leases(cycle: Any) -> None:
        for channel in list(cycle._channels):
            try:
                channel.qos.renew()
            except Exception:  # the broker is away: the next renewal tries again
                log.debug("renewing the hold on unacknowledged messages failed", exc_info=True)


def service_queue(service: str) -> str:
    """The broker queue of one service's consumers and tasks ("events.social")."""
    return f"{EVENTS_QUEUE}.{service}"


def resend_queue(service: str) -> str:
    """The queue of what the relay sends a service's consumers again ("events.social.again"). A
    worker asks it before the service's own queue, so an event the broker lost, which is late
    already, does not wait again behind a backlog that came after it."""
    return f"{service_queue(service)}.again"


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str] | None:
    """Celery router: a consume task goes to its consumer's service queue, a task named
    "<service>.<what>" to that service's queue. A worker started for some services only
    (WORKER_SERVICES) leaves the rest waiting in the broker until their own worker runs."""
    if name == CONSUME_TASK and args:
        return {"queue": service_queue(consumer_service(args[0]))}
    service = name.split(".", 1)[0]
    if service in SCHEMAS:
        return {"queue": service_queue(service)}
    return None


def count_task_outcomes() -> None:
    """Count every task's outcome in hugmood_celery_tasks_total (connected once per process)."""
    from celery import signals

    def outcome(label: str) -> Callable[..., None]:
        def record(sender: Any = None, **_: Any) -> None:
            TASKS.labels(getattr(sender, "name", str(sender)), label).inc()

        return record

    for signal, label in (
        (signals.task_success, "succeeded"),
        (signals.task_retry, "retried"),
        (signals.task_failure, "failed"),
    ):
        signal.connect(outcome(label), weak=False, dispatch_uid=f"hugmood.tasks.{label}")


def make_celery(config: Config, name: str = "hugmood") -> Celery:
    """A Celery app configured not to lose work: late acks, requeue on worker loss, prefetch 1, and
    on Redis a renewed hold on what a worker has (a dead worker's messages come back within the
    visibility timeout)."""
    visibility = config.get("CELERY_VISIBILITY_TIMEOUT_SECONDS", VISIBILITY_TIMEOUT_SECONDS)
    broker = config.CELERY_BROKER_URL or config.REDIS_URL
    app = Celery(name, broker=broker)
    count_task_outcomes()
    if broker.startswith(("redis://", "rediss://")):
        app.conf.broker_transport = RedisTransport
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_acks_on_failure_or_timeout=False,
        # "priority": every fetch asks the queues in the order of task_queues (the worker's services
        # in WORKER_SERVICES order), instead of kombu's default round robin.
        broker_transport_options={
            "visibility_timeout": visibility,
            # Look for messages a dead worker held every few seconds (kombu: every 10th call of 10 s).
            "unacked_restore_interval": min(RESTORE_INTERVAL_SECONDS, visibility),
            "unacked_restore_throttle": 1,
            "queue_order_strategy": "priority",
        },
        broker_connection_retry_on_startup=True,
        task_default_queue=EVENTS_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        task_time_limit=TASK_TIME_LIMIT_SECONDS,
        task_soft_time_limit=TASK_TIME_LIMIT_SECONDS - 30,
        task_routes=(route_task,),
        task_queues=[
            *(
                Queue(queue)
                for service in config.get("WORKER_SERVICES", WORKER_PRIORITY)
                for queue in (resend_queue(service), service_queue(service))
            ),
            Queue(EVENTS_QUEUE),
        ],
        hugmood_event_max_retries=config.get("EVENT_MAX_RETRIES", 10),
        hugmood_event_retry_max_seconds=config.get("EVENT_RETRY_MAX_SECONDS", 60),
    )
    return app


def consumer_service(consumer_name: str) -> str:
    """The service a consumer belongs to: the part of its name before the dot ("mood.streaks")."""
    return consumer_name.split(".", 1)[0]


def service_of_schema(schema: str) -> str:
    """The service that owns `schema`."""
    return next(service for service, owned in SCHEMAS.items() if owned == schema)


def service_engines(config: Config, pool_size: int = 1) -> Callable[[str], Engine]:
    """One engine per service, each connecting as that service's own role, made on first use."""
    engines: dict[str, Engine] = {}
    lock = threading.Lock()

    def engine_for(service: str) -> Engine:
        with lock:
            if service not in engines:
                engines[service] = ping_when_idle(
                    create_engine(service_database_url(service, config), pool_size=pool_size)
                )
            return engines[service]

    return engine_for


@functools.lru_cache(maxsize=64)
def _ledger_upsert(schema: str, column: str) -> Any:
    # An upsert: the consumer may finish before the relay's transaction that wrote the row commits.
    return text(
        f"INSERT INTO {schema}.outbox_deliveries (event_id, consumer, {column}) VALUES (:e, :c, now()) "
        f"ON CONFLICT (event_id, consumer) DO UPDATE SET {column} = now()"
    )


class DeliveryLedger:
    """Which consumer has finished with which event, kept in the publisher's schema.

    The relay writes one row per (event, consumer) when it sends the event; the consume task marks
    its row done when the consumer has acted (or has been dead-lettered), and touches it on each
    retry. The relay sends again any row left undone and untouched for longer than a redelivery
    timeout. So an event is never lost, even where the broker can drop a message (the Redis
    transport pops a message before it records it as unacknowledged, so a worker killed in
    between loses it: celery/celery#4354, celery/kombu#305). Consumers are idempotent by event id,
    so the rare second delivery acts once.
    """

    def __init__(self, engine_for: Callable[[str], Engine]):
        self.engine_for = engine_for

    def done(self, schema: str, event_id: str, consumer: str, *, has_secret: bool = True, forget: bool = False) -> None:
        """The consumer has acted on the event (or gave up on it). Once every consumer has: blank
        its secrets (`has_secret`), or delete the event altogether (`forget`)."""
        params = {"e": uuid.UUID(event_id), "c": consumer}
        engine = self.engine_for(service_of_schema(schema))
        scrub = has_secret and not forget
        # Blanking the secrets goes in the mark's transaction; a bare mark is one statement on its own.
        with engine.begin() if scrub else statement_connection(engine) as conn:
            conn.execute(_ledger_upsert(schema, "done_at"), params)
            if scrub:
                conn.execute(
                    text(
                        f"UPDATE {schema}.outbox SET payload = {scrubbed_payload()} WHERE id = :e "
                        "AND (payload->'data') ?| CAST(:keys AS text[]) AND NOT EXISTS "
                        f"(SELECT 1 FROM {schema}.outbox_deliveries WHERE event_id = :e AND done_at IS NULL)"
                    ),
                    {**params, "keys": list(SECRET_DATA_KEYS)},
                )
        if forget:
            self._forget_if_finished(engine, schema, params["e"])

    def _forget_if_finished(self, engine: Engine, schema: str, event_id: uuid.UUID) -> None:
        with engine.begin() as conn:
            # Locking the row waits out a relay still sending it; each later statement then sees
            # every ledger row that relay wrote (they commit together with published_at).
            published = conn.execute(
                text(f"SELECT published_at FROM {schema}.outbox WHERE id = :e FOR UPDATE"), {"e": event_id}
            ).scalar_one_or_none()
            if published is None:
                return
            unfinished = conn.execute(
                text(
                    f"SELECT EXISTS (SELECT 1 FROM {schema}.outbox_deliveries WHERE event_id = :e AND done_at IS NULL)"
                ),
                {"e": event_id},
            ).scalar_one()
            if not unfinished:
                conn.execute(text(f"DELETE FROM {schema}.outbox_deliveries WHERE event_id = :e"), {"e": event_id})
                conn.execute(text(f"DELETE FROM {schema}.outbox WHERE id = :e"), {"e": event_id})

    def touch(self, schema: str, event_id: str, consumer: str) -> None:
        """The consumer is still at it (retrying): hold off redelivery."""
        with statement_connection(self.engine_for(service_of_schema(schema))) as conn:
            conn.execute(_ledger_upsert(schema, "sent_at"), {"e": uuid.UUID(event_id), "c": consumer})


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
                    f"INSERT INTO {SCHEMAS[service]}.dead_letters (id, event_id, consumer, event, error) "
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
                    f"SELECT id, event_id, consumer, event, error, failed_at FROM {SCHEMAS[service]}.dead_letters "
                    "WHERE retried_at IS NULL ORDER BY failed_at"
                )
            ).mappings()
            return [dict(row) for row in rows]

    def retry(self, service: str, send: Callable[[str, dict[str, Any]], None], ids: Iterable[str] = ()) -> int:
        """Send waiting dead letters (all, or those with `ids`) back to their consumers; mark them retried."""
        wanted = {str(i) for i in ids}
        retried = 0
        schema = SCHEMAS[service]
        with self.engine_for(service).begin() as conn:
            rows = conn.execute(
                text(
                    f"SELECT id, consumer, event FROM {schema}.dead_letters "
                    "WHERE retried_at IS NULL ORDER BY failed_at FOR UPDATE SKIP LOCKED"
                )
            ).all()
            for row in rows:
                if wanted and str(row.id) not in wanted:
                    continue
                send(row.consumer, row.event)
                done = text(f"UPDATE {schema}.dead_letters SET retried_at = now() WHERE id = :id")
                conn.execute(done, {"id": row.id})
                retried += 1
        return retried


def register_event_tasks(
    app: Celery,
    consumers: ConsumerRegistry = registry,
    *,
    ledger: DeliveryLedger | None = None,
    dead_letters: DeadLetters | None = None,
) -> None:
    """Define the consume task on `app`: run one consumer on one event, retried with backoff.

    A consumer that still fails after its last retry is dead-lettered when `dead_letters` is given;
    with a `ledger`, the task reports to the publisher's ledger (done, or still retrying).
    """
    max_retries = app.conf.hugmood_event_max_retries
    longest_delay = app.conf.hugmood_event_retry_max_seconds

    @app.task(name=CONSUME_TASK, bind=True, max_retries=max_retries, acks_late=True, shared=False)
    def consume(self: Any, consumer_name: str, event: dict[str, Any], source: str | None = None) -> None:
        reports = ledger is not None and bool(source)

        def finished() -> None:
            if reports:
                has_secret = any(key in event.get("data", {}) for key in SECRET_DATA_KEYS)
                forget = event["type"] in FORGET_WHEN_DELIVERED
                ledger.done(source, event["id"], consumer_name, has_secret=has_secret, forget=forget)

        try:
            consumers.find(event["type"], consumer_name).handler(event)
        except Exception as exc:
            if is_erasure_refusal(exc):
                # The event names a user who has since deleted their account: nothing to do.
                log.info(
                    "event skipped: it names a deleted user", extra={"consumer": consumer_name, "event_id": event["id"]}
                )
                TASKS.labels(CONSUME_TASK, "skipped").inc()
                finished()
                return
            log.warning("consumer failed", extra={"consumer": consumer_name, "event_id": event["id"]})
            if self.request.retries >= max_retries and dead_letters is not None:
                dead_letters.record(consumer_name, event, f"{type(exc).__name__}: {exc}")
                TASKS.labels(CONSUME_TASK, "dead_lettered").inc()
                finished()
                return
            if reports:
                ledger.touch(source, event["id"], consumer_name)
            raise self.retry(exc=exc, countdown=min(2**self.request.retries, longest_delay)) from exc
        finished()


# The relay reads a queue whole, to see whether the broker still has an event, only while it holds
# at most this many messages (and the unacked hash likewise); an event behind a longer queue is
# left to the slow redelivery (EVENT_REDELIVER_SECONDS) or to a later pass.
HOLDINGS_READ_LIMIT = 2000


@dataclass(frozen=True)
class Holdings:
    """The consume tasks the broker had at one instant: waiting in a queue, or taken by a worker
    and not yet acknowledged (running, waiting for a free process or for a retry's countdown)."""

    pairs: frozenset[tuple[str, str]]  # (event id, consumer name)
    queues: frozenset[str]  # the queues read whole: only their consumers' absence means anything

    def lost(self, event_id: str, consumer_name: str) -> bool:
        """The broker has no copy of this consumer's task for the event, and would have shown one."""
        return (
            service_queue(consumer_service(consumer_name)) in self.queues
            and (event_id, consumer_name) not in self.pairs
        )


NOTHING_KNOWN = Holdings(frozenset(), frozenset())


def _consume_task_of(raw: bytes, unacked: bool = False) -> tuple[str, str] | None:
    """(event id, consumer) of a consume task message as kombu keeps it on Redis, else None: in a
    queue, the message; in the unacked hash, [message, exchange, routing key]."""
    try:
        message = json.loads(raw)
        if unacked:
            message = message[0]
        if message.get("headers", {}).get("task") != CONSUME_TASK:
            return None
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return str(args[1]["id"]), str(args[0])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def broker_holdings(app: Celery, limit: int = HOLDINGS_READ_LIMIT) -> Holdings:
    """What the Redis broker holds of consume tasks, read in one transaction (a message moving
    between a queue and the unacked hash is seen in one of them). Its only blind spot is the one the
    delivery ledger exists for: a message a worker has popped and not yet recorded as unacked.

    Queues longer than `limit` are not read (nothing is known of their consumers), nor anything at
    all if more than `limit` messages are unacknowledged. Other brokers: nothing is known (AMQP
    brokers do not lose a message a consumer dies holding)."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        if not isinstance(channel, kombu_redis.Channel):
            return NOTHING_KNOWN
        client = channel.client
        keys = {
            service_queue(service): [
                channel._q_for_pri(queue, p)
                for queue in (resend_queue(service), service_queue(service))
                for p in channel.priority_steps
            ]
            for service in SCHEMAS
        }
        with client.pipeline(transaction=True) as pipe:
            for queue_keys in keys.values():
                for key in queue_keys:
                    pipe.llen(key)
            pipe.hlen(channel.unacked_key)
            sizes = iter(pipe.execute())
        lengths = {queue: sum(next(sizes) for _ in queue_keys) for queue, queue_keys in keys.items()}
        if next(sizes) > limit:
            return NOTHING_KNOWN
        readable = [queue for queue, length in lengths.items() if length <= limit]
        with client.pipeline(transaction=True) as pipe:
            for queue in readable:
                for key in keys[queue]:
                    pipe.lrange(key, 0, -1)
            pipe.hvals(channel.unacked_key)
            *waiting, unacked = pipe.execute()
    pairs = {pair for items in waiting for raw in items if (pair := _consume_task_of(raw))}
    pairs.update(pair for raw in unacked if (pair := _consume_task_of(raw, unacked=True)))
    return Holdings(frozenset(pairs), frozenset(readable))


def consume_sender(
    app: Celery, queue_for: Callable[[str], str] = service_queue
) -> Callable[[str, dict[str, Any], str | None], None]:
    """Send an event to one consumer, on its service's queue by `queue_for` (service_queue, or
    resend_queue for what is sent again); `source` is the publisher's schema, whose ledger it
    reports to."""

    def send(consumer_name: str, event: dict[str, Any], source: str | None = None) -> None:
        # route_task puts it on the consumer's service queue. The message's headers carry a short
        # description of the arguments (argsrepr, what monitoring tools and logs show) instead of
        # Celery's repr of the whole event, which would copy its data (a hug's message, say)
        # there too, and costs the relay a repr of every event it sends.
        described = f"({consumer_name!r}, <event {event.get('type')} {event.get('id')}>, {source!r})"
        app.send_task(
            CONSUME_TASK,
            args=(consumer_name, event, source),
            queue=queue_for(consumer_service(consumer_name)),
            retry=False,
            argsrepr=described,
            kwargsrepr="{}",
        )

    return send
