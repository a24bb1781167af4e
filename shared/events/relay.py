"""The relay: moves committed outbox rows to their consumers through Celery, and sends again what a
consumer has not finished with: at once what the broker lost, the rest after a long timeout."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Engine

from shared.config import SERVICES
from shared.db import schema_name
from shared.events.consumers import (
    NOTHING_KNOWN,
    Holdings,
    broker_holdings,
    consume_sender,
    resend_queue,
    service_engines,
)
from shared.events.outbox import RELAY_CHANNEL, scrubbed_payload
from shared.metrics import OUTBOX_LAG, OUTBOX_PENDING, serve_metrics

log = logging.getLogger("hugmood.events")
Send = Callable[[str, dict[str, Any], str], None]
BATCH = 100  # outbox rows per relay transaction
# An event the broker lost is sent again quickly at most this many times; after that (a consumer
# whose task keeps vanishing, say a poison message Celery drops) only the slow redelivery sends it.
LOST_RESENDS = 3


class _RelayStatements(NamedTuple):
    pending: TextClause
    failed: TextClause
    published: TextClause
    unheard: TextClause


@functools.lru_cache(maxsize=32)
def _relay_statements(schema: str) -> _RelayStatements:
    """relay_batch's statements for one schema, built once."""
    return _RelayStatements(
        pending=text(
            f"SELECT id, event_type, payload FROM {schema}.outbox WHERE published_at IS NULL "
            "ORDER BY created_at, id LIMIT :n FOR UPDATE SKIP LOCKED"
        ),
        failed=text(f"UPDATE {schema}.outbox SET attempts = attempts + 1, last_error = :e WHERE id = :id"),
        # The ledger rows and the mark, in one statement.
        published=text(
            f"WITH ledger AS (INSERT INTO {schema}.outbox_deliveries (event_id, consumer) "
            "SELECT :id, unnest(CAST(:names AS text[])) ON CONFLICT DO NOTHING) "
            f"UPDATE {schema}.outbox SET published_at = now() WHERE id = :id"
        ),
        # No consumer: marked published and scrubbed at once.
        unheard=text(f"UPDATE {schema}.outbox SET published_at = now(), payload = {scrubbed_payload()} WHERE id = :id"),
    )


def relay_batch(
    engine: Engine, schema: str, send: Send, consumers_for: Callable[[str], list[str]], batch: int = BATCH
) -> int:
    """Send up to `batch` pending outbox rows of `schema` to each of their consumers; return how many rows went.

    Rows are locked with SKIP LOCKED so several relays never send one row concurrently. Each
    (event, consumer) pair gets a ledger row in the same transaction that marks the event
    published. A crash between sending and committing sends the row again next time: consumers are
    idempotent by event id. A row whose event has no consumer is marked published and scrubbed.
    """
    sql = _relay_statements(schema)
    sent = 0
    with engine.begin() as conn:
        rows = conn.execute(sql.pending, {"n": batch}).all()
        for row in rows:
            names = consumers_for(row.event_type)
            try:
                for name in names:
                    send(name, row.payload, schema)
            except Exception as exc:  # broker down: keep the row, count the attempt
                conn.execute(sql.failed, {"e": str(exc)[:500], "id": row.id})
                break
            if names:
                conn.execute(sql.published, {"id": row.id, "names": names})
            else:
                conn.execute(sql.unheard, {"id": row.id})
            sent += 1
    return sent


def redeliver_stale(engine: Engine, schema: str, send: Send, older_than: float, batch: int = BATCH) -> int:
    """Send again each (event, consumer) not done and not touched for `older_than` seconds."""
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                f"SELECT d.event_id, d.consumer, o.payload FROM {schema}.outbox_deliveries d "
                f"JOIN {schema}.outbox o ON o.id = d.event_id "
                "WHERE d.done_at IS NULL AND d.sent_at < now() - make_interval(secs => :age) "
                "ORDER BY d.sent_at LIMIT :n FOR UPDATE OF d SKIP LOCKED"
            ),
            {"age": older_than, "n": batch},
        ).all()
        for row in rows:
            send(row.consumer, row.payload, schema)
            conn.execute(
                text(
                    f"UPDATE {schema}.outbox_deliveries SET sent_at = now(), redeliveries = redeliveries + 1 "
                    "WHERE event_id = :e AND consumer = :c"
                ),
                {"e": row.event_id, "c": row.consumer},
            )
            log.warning("event sent again", extra={"event_id": str(row.event_id), "consumer": row.consumer})
    return len(rows)


def redeliver_lost(
    engine: Engine,
    schema: str,
    send: Send,
    holdings: Callable[[], Holdings],
    older_than: float,
    batch: int = BATCH,
) -> int:
    """Send again each (event, consumer) not done, sent (or retried) more than `older_than` seconds
    ago, that the broker no longer has: neither waiting in its queue nor held by a worker.

    That is the message a worker popped and died before recording it as unacknowledged (kombu's
    Redis transport, celery/kombu#305): nothing in the broker brings it back, and the slow
    redelivery (`redeliver_stale`) would take EVENT_REDELIVER_SECONDS. Everything else undone is in
    the broker: waiting behind other work, running, or held by a dead worker until the visibility
    timeout puts it back. So this resends only what is gone, and a backlog is never sent twice.
    `holdings` is asked only when some row is overdue.
    """
    with engine.connect() as conn:
        overdue = conn.execute(
            text(
                f"SELECT event_id, consumer FROM {schema}.outbox_deliveries WHERE done_at IS NULL "
                "AND sent_at < now() - make_interval(secs => :age) AND redeliveries < :most "
                "ORDER BY sent_at LIMIT :n"
            ),
            {"age": older_than, "most": LOST_RESENDS, "n": batch},
        ).all()
    if not overdue:
        return 0
    held = holdings()
    lost = [row for row in overdue if held.lost(str(row.event_id), row.consumer)]
    if not lost:
        return 0
    with engine.begin() as conn:
        # Again under lock: the consumer may have finished, or another relay resent it, meanwhile.
        rows = conn.execute(
            text(
                f"SELECT d.event_id, d.consumer, o.payload FROM {schema}.outbox_deliveries d "
                f"JOIN {schema}.outbox o ON o.id = d.event_id "
                "JOIN unnest(CAST(:ids AS uuid[]), CAST(:names AS text[])) AS l(event_id, consumer) "
                "ON l.event_id = d.event_id AND l.consumer = d.consumer "
                "WHERE d.done_at IS NULL AND d.sent_at < now() - make_interval(secs => :age) "
                "FOR UPDATE OF d SKIP LOCKED"
            ),
            {"ids": [row.event_id for row in lost], "names": [row.consumer for row in lost], "age": older_than},
        ).all()
        for row in rows:
            send(row.consumer, row.payload, schema)
            conn.execute(
                text(
                    f"UPDATE {schema}.outbox_deliveries SET sent_at = now(), redeliveries = redeliveries + 1 "
                    "WHERE event_id = :e AND consumer = :c"
                ),
                {"e": row.event_id, "c": row.consumer},
            )
            log.warning(
                "event lost by the broker, sent again", extra={"event_id": str(row.event_id), "consumer": row.consumer}
            )
    return len(rows)


def prune(engine: Engine, schema: str, older_than_days: float, batch: int = 1000) -> int:
    """Delete outbox rows published more than `older_than_days` ago that every consumer has finished,
    with their ledger rows, and processed-event ids as old; return how many outbox rows went.

    Consumers dedupe on processed ids only for as long as a redelivery can come (minutes), so a
    retention of days keeps every guarantee. Done in batches so a large backlog never holds locks long.
    """
    age = {"days": older_than_days, "n": batch}
    cutoff = "now() - CAST(:days AS double precision) * interval '1 day'"
    with engine.begin() as conn:
        gone = [
            row.id
            for row in conn.execute(
                text(
                    f"DELETE FROM {schema}.outbox WHERE id IN ("
                    f"SELECT o.id FROM {schema}.outbox o WHERE o.published_at < {cutoff} "
                    f"AND NOT EXISTS (SELECT 1 FROM {schema}.outbox_deliveries d WHERE d.event_id = o.id "
                    "AND d.done_at IS NULL) LIMIT :n) RETURNING id"
                ),
                age,
            )
        ]
        if gone:
            conn.execute(text(f"DELETE FROM {schema}.outbox_deliveries WHERE event_id = ANY(:ids)"), {"ids": gone})
        conn.execute(
            text(
                f"DELETE FROM {schema}.processed_events WHERE (event_id, consumer) IN ("
                f"SELECT event_id, consumer FROM {schema}.processed_events "
                f"WHERE processed_at < {cutoff} LIMIT :n)"
            ),
            age,
        )
    return len(gone)


def outbox_backlog(engine: Engine, schema: str) -> tuple[int, float]:
    """Outbox rows of `schema` not yet published, and how many seconds the oldest has waited (0 if none)."""
    with engine.connect() as conn:
        count, lag = conn.execute(
            text(
                "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) "
                f"FROM {schema}.outbox WHERE published_at IS NULL"
            )
        ).one()
        return count, float(lag)


class OutboxWakeup:
    """Waits for a NOTIFY on the relay channel, or `timeout` seconds, whichever comes first.

    A notification names the schema whose outbox has a new row, so a busy relay reads only that
    outbox. It only shortens the wait: a pass after a quiet `timeout` reads every outbox, so a
    missed notification (say, while reconnecting) delays an event by at most one idle pass.
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

    def wait(self, timeout: float) -> set[str] | None:
        """The schemas notified meanwhile, or None when the wait ended without a notification."""
        import select

        try:
            if self.conn is None:
                self.conn = self._listen()
            self.conn.poll()
            if not self.conn.notifies and select.select([self.conn], [], [], timeout)[0]:
                self.conn.poll()
            notified = {n.payload for n in self.conn.notifies}
            self.conn.notifies.clear()
            return notified or None
        except Exception:
            log.warning("relay wake-up connection lost; polling until it is back")
            self.close()
            time.sleep(timeout)
            return None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


def _read_once(holdings: Callable[[], Holdings]) -> Callable[[], Holdings]:
    """`holdings`, read on the first call only; nothing known if the broker cannot be read."""
    read: list[Holdings] = []

    def once() -> Holdings:
        if not read:
            try:
                read.append(holdings())
            except Exception:
                log.warning("could not read what the broker holds", exc_info=True)
                read.append(NOTHING_KNOWN)
        return read[0]

    return once


def relay_forever(
    engines: Iterable[tuple[str, Engine]],
    send: Send,
    consumers_for: Callable[[str], list[str]],
    *,
    redeliver_after: float,
    resend: Send | None = None,
    lost_after: float | None = None,
    holdings: Callable[[], Holdings] = lambda: NOTHING_KNOWN,
    retention_days: float = 7.0,
    idle_sleep: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Loop over every schema's outbox until told to stop, sleeping between passes until NOTIFY.

    Every sweep (a few seconds) also resends what a consumer has not finished: at once what the
    broker lost (`redeliver_lost`, after `lost_after` s; `holdings` reads the broker), and anything
    else after `redeliver_after` s (`redeliver_stale`). What is sent again goes through `resend`
    (by default `send`): the relay process puts it on the resend queues, ahead of any backlog.
    """
    engines = list(engines)
    resend = resend or send
    sweep_every = min(redeliver_after / 4, 30.0)
    if lost_after is not None:
        sweep_every = min(sweep_every, lost_after / 3)
    wakeup = OutboxWakeup(engines[0][1])
    next_sweep = next_prune = 0.0
    busy: set[str] = set()  # schemas whose last pass filled a whole batch: more may be waiting
    notified: set[str] | None = None
    try:
        while not should_stop():
            # Every outbox after a quiet wait and on the sweep cadence; otherwise only the notified ones.
            sweep = time.monotonic() >= next_sweep
            pruning = time.monotonic() >= next_prune
            scan = None if sweep or notified is None else notified | busy
            busy = set()
            broker = _read_once(holdings)  # the broker's holdings, read at most once per sweep
            for schema, engine in engines:
                if scan is not None and schema not in scan:
                    continue
                try:
                    moved = relay_batch(engine, schema, send, consumers_for)
                    if moved >= BATCH:  # a full batch: more rows may be waiting
                        busy.add(schema)
                    if sweep:
                        if lost_after is not None:
                            redeliver_lost(engine, schema, resend, broker, lost_after)
                        redeliver_stale(engine, schema, resend, redeliver_after)
                        pending, lag = outbox_backlog(engine, schema)
                        OUTBOX_PENDING.labels(schema).set(pending)
                        OUTBOX_LAG.labels(schema).set(lag)
                    if pruning:
                        prune(engine, schema, retention_days)
                except Exception:
                    log.exception("relay pass failed", extra={"schema": schema})
            if sweep:
                next_sweep = time.monotonic() + sweep_every
            if pruning:
                next_prune = time.monotonic() + 3600
            notified = set() if busy else wakeup.wait(idle_sleep)
    finally:
        wakeup.close()


def run_relay(config: Any, app: Any, consumers: Any) -> None:
    """The relay process: every service's outbox, sent to `consumers` through Celery `app`, until SIGTERM."""
    serve_metrics(config.RELAY_METRICS_PORT, os.environ.get("BIND_HOST", "127.0.0.1"))
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    engine_for = service_engines(config)
    engines = [(schema_name(s), engine_for(s)) for s in SERVICES]
    log.info("relay started", extra={"schemas": [s for s, _ in engines]})
    relay_forever(
        engines,
        consume_sender(app),
        lambda event_type: [c.name for c in consumers.by_type.get(event_type, [])],
        redeliver_after=config.EVENT_REDELIVER_SECONDS,
        resend=consume_sender(app, resend_queue),
        lost_after=config.EVENT_LOST_SECONDS,
        holdings=lambda: broker_holdings(app),
        retention_days=config.EVENT_RETENTION_DAYS,
        should_stop=lambda: bool(stopping),
    )
