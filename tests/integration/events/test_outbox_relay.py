"""Outbox rows leave only after commit, are relayed once, and survive a broker failure."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text

from services.auth.models import OutboxEvent, ProcessedEvent, db
from shared.db import service_database_url
from shared.events import claim_once, publish, relay_batch


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
