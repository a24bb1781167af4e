"""Outbox rows leave only after commit, are relayed once, and survive a broker failure."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from services.auth.models import OutboxEvent, ProcessedEvent, db
from shared.config import Config
from shared.db import service_database_url
from shared.events import (
    DeliveryLedger,
    Holdings,
    OutboxWakeup,
    claim_once,
    prune,
    publish,
    redeliver_lost,
    redeliver_stale,
    relay_batch,
    service_engines,
)
from shared.events.relay import LOST_RESENDS


def no_consumers(_event_type: str) -> list[str]:
    return []


def one_consumer(_event_type: str) -> list[str]:
    return ["user.profiles"]


def collect(into: list):
    """A sender that records each event (once per consumer)."""
    return lambda _consumer, event, _schema: into.append(event)


@pytest.fixture
def engine(base_config):
    engine = create_engine(
        service_database_url("auth", Config(DATABASE_URL=base_config["DATABASE_URL"], DATABASE_ROLE_PASSWORD=""))
    )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth.outbox"))
        conn.execute(text("DELETE FROM auth.outbox_deliveries"))
        conn.execute(text("DELETE FROM auth.processed_events"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth.outbox"))
        conn.execute(text("DELETE FROM auth.outbox_deliveries"))
        conn.execute(text("DELETE FROM auth.processed_events"))
    engine.dispose()


@pytest.fixture
def ledger(base_config):
    engines = service_engines(Config(DATABASE_URL=base_config["DATABASE_URL"], DATABASE_ROLE_PASSWORD=""))
    yield DeliveryLedger(engines)
    engines("auth").dispose()


@pytest.fixture
def session(auth_session_app):
    with auth_session_app.app_context():
        yield db.session
        db.session.remove()


@pytest.fixture(scope="module")
def auth_session_app(base_config):
    from services.auth import create_app

    return create_app(base_config)


def test_rolled_back_change_publishes_nothing(engine, session):
    publish(session, OutboxEvent, "Thing", {"n": 1})
    session.rollback()
    sent = []
    assert relay_batch(engine, "auth", collect(sent), one_consumer) == 0 and sent == []


def test_committed_events_are_relayed_once_in_order(engine, session):
    for n in range(3):
        publish(session, OutboxEvent, "Thing", {"n": n})
        session.commit()
    sent = []
    assert relay_batch(engine, "auth", collect(sent), one_consumer) == 3
    assert [e["data"]["n"] for e in sent] == [0, 1, 2]
    assert {e["type"] for e in sent} == {"Thing"} and all(e["id"] for e in sent)
    assert relay_batch(engine, "auth", collect(sent), one_consumer) == 0


def test_broker_failure_keeps_the_row_for_the_next_pass(engine, session):
    publish(session, OutboxEvent, "Thing", {"n": 1})
    session.commit()

    def broken(_consumer, _event, _schema):
        raise ConnectionError("broker down")

    assert relay_batch(engine, "auth", broken, one_consumer) == 0
    with engine.connect() as conn:
        row = conn.execute(text("SELECT attempts, published_at, last_error FROM auth.outbox")).one()
    assert row.attempts == 1 and row.published_at is None and "broker down" in row.last_error
    sent = []
    assert relay_batch(engine, "auth", collect(sent), one_consumer) == 1


def test_concurrent_relays_never_publish_a_row_twice(engine, session):
    for n in range(40):
        publish(session, OutboxEvent, "Thing", {"n": n})
    session.commit()
    sent: list[int] = []
    lock = threading.Lock()

    def send(_consumer, event, _schema):
        with lock:
            sent.append(event["data"]["n"])

    def relay():
        while relay_batch(engine, "auth", send, one_consumer, batch=5):
            pass

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sent) == list(range(40))


def test_a_consumer_acts_once_per_event(engine, session):
    event_id = str(publish(session, OutboxEvent, "Thing", {}))
    assert claim_once(session, ProcessedEvent, event_id, "notification") is True
    session.commit()
    assert claim_once(session, ProcessedEvent, event_id, "notification") is False
    assert claim_once(session, ProcessedEvent, event_id, "social") is True
    session.commit()


def _stored_payload(engine) -> dict:
    with engine.connect() as conn:
        return conn.execute(text("SELECT payload FROM auth.outbox")).scalar_one()


def test_a_secret_stays_until_every_consumer_is_done_then_is_blanked(engine, session, ledger):
    event_id = str(publish(session, OutboxEvent, "PasswordResetRequested", {"user_id": "u", "token": "s3cret"}))
    session.commit()
    sent = []
    assert relay_batch(engine, "auth", collect(sent), lambda _t: ["notification.reset", "social.x"]) == 1
    assert [e["data"]["token"] for e in sent] == ["s3cret", "s3cret"]
    ledger.done("auth", event_id, "notification.reset")
    assert _stored_payload(engine)["data"]["token"] == "s3cret"  # a redelivery to social.x still needs it
    ledger.done("auth", event_id, "social.x")
    assert _stored_payload(engine)["data"] == {"user_id": "u"}


def test_an_event_without_consumers_is_blanked_at_once(engine, session):
    publish(session, OutboxEvent, "PasswordResetRequested", {"user_id": "u", "token": "s3cret"})
    session.commit()
    assert relay_batch(engine, "auth", collect([]), no_consumers) == 1
    assert _stored_payload(engine)["data"] == {"user_id": "u"}


def _age_deliveries(engine, seconds: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE auth.outbox_deliveries SET sent_at = sent_at - make_interval(secs => :s)"), {"s": seconds}
        )


def test_an_event_a_consumer_never_finished_is_sent_again_and_only_that_one(engine, session, ledger):
    lost = str(publish(session, OutboxEvent, "Thing", {"n": 1}))
    finished = str(publish(session, OutboxEvent, "Thing", {"n": 2}))
    session.commit()
    assert relay_batch(engine, "auth", collect([]), lambda _t: ["user.profiles", "mood.x"]) == 2
    ledger.done("auth", finished, "user.profiles")
    ledger.done("auth", finished, "mood.x")
    ledger.done("auth", lost, "mood.x")
    resent: list[tuple[str, str]] = []

    def send(consumer, event, schema):
        resent.append((consumer, event["id"], schema))

    assert redeliver_stale(engine, "auth", send, older_than=60) == 0  # not overdue yet
    _age_deliveries(engine, 120)
    assert redeliver_stale(engine, "auth", send, older_than=60) == 1
    assert resent == [("user.profiles", lost, "auth")]
    assert redeliver_stale(engine, "auth", send, older_than=60) == 0  # sent again just now
    ledger.done("auth", lost, "user.profiles")
    _age_deliveries(engine, 120)
    assert redeliver_stale(engine, "auth", send, older_than=60) == 0


def test_a_consumer_still_retrying_is_not_sent_again(engine, session, ledger):
    event_id = str(publish(session, OutboxEvent, "Thing", {}))
    session.commit()
    relay_batch(engine, "auth", collect([]), one_consumer)
    _age_deliveries(engine, 120)
    ledger.touch("auth", event_id, "user.profiles")
    assert redeliver_stale(engine, "auth", collect([]), older_than=60) == 0


def test_an_event_the_broker_lost_is_sent_again_soon_and_nothing_it_still_holds(engine, session, ledger):
    lost, queued, finished = (str(publish(session, OutboxEvent, "Thing", {"n": n})) for n in range(3))
    session.commit()
    relay_batch(engine, "auth", collect([]), one_consumer)
    ledger.done("auth", finished, "user.profiles")
    broker = Holdings(frozenset({(queued, "user.profiles")}), frozenset({"events.user"}))
    asked: list[int] = []

    def holdings() -> Holdings:
        asked.append(1)
        return broker

    resent: list[str] = []

    def send(consumer, event, schema):
        resent.append(event["id"])

    assert redeliver_lost(engine, "auth", send, holdings, older_than=15) == 0
    assert not asked, "the broker is read only when some event is overdue"
    _age_deliveries(engine, 20)
    assert redeliver_lost(engine, "auth", send, holdings, older_than=15) == 1
    assert resent == [lost], "not the one waiting in its queue (or held by a worker), nor the finished one"
    assert redeliver_lost(engine, "auth", send, holdings, older_than=15) == 0  # sent again just now
    for _ in range(LOST_RESENDS - 1):
        _age_deliveries(engine, 20)
        assert redeliver_lost(engine, "auth", send, holdings, older_than=15) == 1
    _age_deliveries(engine, 20)
    assert redeliver_lost(engine, "auth", send, holdings, older_than=15) == 0, "then only the slow redelivery"
    assert resent == [lost] * LOST_RESENDS


def test_nothing_is_sent_again_soon_about_a_queue_the_relay_could_not_read(engine, session, ledger):
    publish(session, OutboxEvent, "Thing", {})
    session.commit()
    relay_batch(engine, "auth", collect([]), one_consumer)
    _age_deliveries(engine, 20)
    unread = Holdings(frozenset(), frozenset({"events.social"}))
    assert redeliver_lost(engine, "auth", collect([]), lambda: unread, older_than=15) == 0


def test_a_consumer_done_before_the_relay_commits_its_ledger_row_stays_done(engine, session, ledger):
    event_id = str(publish(session, OutboxEvent, "Thing", {}))
    session.commit()
    ledger.done("auth", event_id, "user.profiles")  # the task ran before the relay's transaction committed
    relay_batch(engine, "auth", collect([]), one_consumer)
    _age_deliveries(engine, 120)
    assert redeliver_stale(engine, "auth", collect([]), older_than=60) == 0


def test_the_relay_wakes_on_commit_not_on_its_next_pass(engine, session):
    wakeup = OutboxWakeup(engine)
    try:
        wakeup.wait(0.01)  # connects and listens
        waited: list[float] = []
        started = time.monotonic()
        notified: list = []
        waiter = threading.Thread(
            target=lambda: (notified.append(wakeup.wait(20)), waited.append(time.monotonic() - started))
        )
        waiter.start()
        publish(session, OutboxEvent, "Thing", {})
        time.sleep(0.3)
        assert not waited, "woke before the commit"
        session.commit()
        waiter.join()
    finally:
        wakeup.close()
    assert 0.25 <= waited[0] < 10, waited
    assert notified == [{"auth"}], "the notification names the schema to read"


def test_the_relay_waits_out_its_idle_time_when_nothing_commits(engine):
    wakeup = OutboxWakeup(engine)
    try:
        started = time.monotonic()
        assert wakeup.wait(0.5) is None
        assert time.monotonic() - started >= 0.45
    finally:
        wakeup.close()


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM auth.{table}")).scalar_one()


def test_pruning_deletes_only_old_events_every_consumer_finished(engine, session, ledger):
    old_done, old_undone, recent_done = (str(publish(session, OutboxEvent, "Thing", {"n": n})) for n in range(3))
    old_no_consumer = str(publish(session, OutboxEvent, "Lonely", {}))
    session.commit()
    relay_batch(engine, "auth", collect([]), lambda t: [] if t == "Lonely" else ["user.profiles"])
    for event_id in (old_done, recent_done):
        ledger.done("auth", event_id, "user.profiles")
    claim_once(session, ProcessedEvent, old_done, "auth.self")
    claim_once(session, ProcessedEvent, recent_done, "auth.self")
    session.commit()
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE auth.outbox SET published_at = now() - interval '8 days' WHERE id = ANY(:ids)"),
            {"ids": [uuid.UUID(i) for i in (old_done, old_undone, old_no_consumer)]},
        )
        conn.execute(
            text("UPDATE auth.processed_events SET processed_at = now() - interval '8 days' WHERE event_id = :e"),
            {"e": uuid.UUID(old_done)},
        )
    # A float, as EVENT_RETENTION_DAYS is; old_done and old_no_consumer go.
    assert prune(engine, "auth", older_than_days=7.0) == 2
    with engine.connect() as conn:
        left = {str(r[0]) for r in conn.execute(text("SELECT id FROM auth.outbox"))}
        processed = {str(r[0]) for r in conn.execute(text("SELECT event_id FROM auth.processed_events"))}
    assert left == {old_undone, recent_done}, "an unfinished event is kept however old"
    assert processed == {recent_done}
    assert _count(engine, "outbox_deliveries") == 2
    assert prune(engine, "auth", older_than_days=7) == 0


def test_a_user_deleted_event_is_forgotten_once_every_consumer_is_done(engine, session, ledger):
    event_id = str(publish(session, OutboxEvent, "UserDeleted", {"user_id": str(uuid.uuid4())}))
    session.commit()
    relay_batch(engine, "auth", collect([]), lambda _t: ["user.erase", "social.erase"])
    ledger.done("auth", event_id, "user.erase", has_secret=False, forget=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.outbox")).scalar_one() == 1  # social still to come
    ledger.done("auth", event_id, "social.erase", has_secret=False, forget=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.outbox")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM auth.outbox_deliveries")).scalar_one() == 0


def test_an_event_is_not_forgotten_before_the_relay_has_sent_it(engine, session, ledger):
    event_id = str(publish(session, OutboxEvent, "UserDeleted", {"user_id": str(uuid.uuid4())}))
    session.commit()
    # A redelivered task finishing while the row is still unpublished: nothing is deleted.
    ledger.done("auth", event_id, "user.erase", has_secret=False, forget=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.outbox")).scalar_one() == 1
