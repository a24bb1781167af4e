"""Outbox rows leave only after commit, are relayed once, and survive a broker failure."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from services.auth.models import OutboxEvent, ProcessedEvent, db
from shared.db import service_database_url
from shared.events import OutboxWakeup, claim_once, publish, relay_batch


@pytest.fixture
def engine(base_config):
    from shared.config import Config

    engine = create_engine(
        service_database_url("auth", Config(DATABASE_URL=base_config["DATABASE_URL"], DATABASE_ROLE_PASSWORD=""))
    )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth.outbox"))
        conn.execute(text("DELETE FROM auth.processed_events"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth.outbox"))
        conn.execute(text("DELETE FROM auth.processed_events"))
    engine.dispose()


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
    assert relay_batch(engine, "auth", sent.append) == 0 and sent == []


def test_committed_events_are_relayed_once_in_order(engine, session):
    for n in range(3):
        publish(session, OutboxEvent, "Thing", {"n": n})
        session.commit()
    sent = []
    assert relay_batch(engine, "auth", sent.append) == 3
    assert [e["data"]["n"] for e in sent] == [0, 1, 2]
    assert {e["type"] for e in sent} == {"Thing"} and all(e["id"] for e in sent)
    assert relay_batch(engine, "auth", sent.append) == 0


def test_broker_failure_keeps_the_row_for_the_next_pass(engine, session):
    publish(session, OutboxEvent, "Thing", {"n": 1})
    session.commit()

    def broken(_event):
        raise ConnectionError("broker down")

    assert relay_batch(engine, "auth", broken) == 0
    with engine.connect() as conn:
        row = conn.execute(text("SELECT attempts, published_at, last_error FROM auth.outbox")).one()
    assert row.attempts == 1 and row.published_at is None and "broker down" in row.last_error
    sent = []
    assert relay_batch(engine, "auth", sent.append) == 1


def test_concurrent_relays_never_publish_a_row_twice(engine, session):
    for n in range(40):
        publish(session, OutboxEvent, "Thing", {"n": n})
    session.commit()
    sent: list[int] = []
    lock = threading.Lock()

    def send(event):
        with lock:
            sent.append(event["data"]["n"])

    def relay():
        while relay_batch(engine, "auth", send, batch=5):
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


def test_a_published_row_keeps_no_secret_but_the_consumer_got_it(engine, session):
    publish(session, OutboxEvent, "PasswordResetRequested", {"user_id": "u", "token": "s3cret-token"})
    session.commit()
    sent = []
    assert relay_batch(engine, "auth", sent.append) == 1
    assert sent[0]["data"]["token"] == "s3cret-token"
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT payload FROM auth.outbox")).scalar_one()
    assert stored["data"] == {"user_id": "u"} and "s3cret-token" not in str(stored)


def test_the_relay_wakes_on_commit_not_on_its_next_pass(engine, session):
    wakeup = OutboxWakeup(engine)
    try:
        wakeup.wait(0.01)  # connects and listens
        waited: list[float] = []
        started = time.monotonic()
        waiter = threading.Thread(target=lambda: (wakeup.wait(20), waited.append(time.monotonic() - started)))
        waiter.start()
        publish(session, OutboxEvent, "Thing", {})
        time.sleep(0.3)
        assert not waited, "woke before the commit"
        session.commit()
        waiter.join()
    finally:
        wakeup.close()
    assert 0.25 <= waited[0] < 10, waited


def test_the_relay_waits_out_its_idle_time_when_nothing_commits(engine):
    wakeup = OutboxWakeup(engine)
    try:
        started = time.monotonic()
        wakeup.wait(0.5)
        assert time.monotonic() - started >= 0.45
    finally:
        wakeup.close()
