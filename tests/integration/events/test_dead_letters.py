"""A consumer that keeps failing leaves a dead letter in its own service's schema; an admin retries it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from shared.config import Config
from shared.events import (
    CONSUME_TASK,
    ConsumerRegistry,
    DeadLetters,
    DeliveryLedger,
    make_celery,
    register_event_tasks,
    service_engines,
)
from shared.events.__main__ import main


@pytest.fixture
def engine_for(base_config):
    engine_for = service_engines(Config(DATABASE_URL=base_config["DATABASE_URL"], DATABASE_ROLE_PASSWORD=""))
    yield engine_for
    with engine_for("mood").begin() as conn:
        conn.execute(text("DELETE FROM moods.dead_letters"))
    engine_for("mood").dispose()


def _event() -> dict:
    return {"id": str(uuid.uuid4()), "type": "Thing", "occurred_at": "2026-11-22T00:00:00Z", "data": {"n": 1}}


@pytest.fixture
def consume(base_config, engine_for):
    consumers = ConsumerRegistry()
    calls: list[dict] = []

    @consumers.subscribe("Thing", "mood.broken")
    def broken(event: dict) -> None:
        calls.append(event)
        raise RuntimeError("the owner service said no")

    app = make_celery(
        Config(CELERY_BROKER_URL="memory://", REDIS_URL="", EVENT_MAX_RETRIES=3, EVENT_RETRY_MAX_SECONDS=1)
    )
    register_event_tasks(app, consumers, dead_letters=DeadLetters(engine_for))
    task = app.tasks[CONSUME_TASK]
    task.calls = calls
    return task


def _waiting(engine_for) -> list:
    with engine_for("mood").connect() as conn:
        query = "SELECT consumer, event, error FROM moods.dead_letters WHERE retried_at IS NULL"
        return conn.execute(text(query)).all()


def test_a_failing_consumer_is_retried_up_to_its_last_retry_then_dead_lettered_once(consume, engine_for):
    # Run locally, Celery performs each retry at once instead of after its countdown.
    consume.apply(args=("mood.broken", _event()), retries=1)
    assert len(consume.calls) == 3  # tries 1, 2 and 3 of EVENT_MAX_RETRIES=3
    assert len(_waiting(engine_for)) == 1


def test_the_last_failure_is_kept_as_a_dead_letter_in_the_consumers_schema(consume, engine_for):
    event = _event()
    result = consume.apply(args=("mood.broken", event), retries=3)
    assert result.state == "SUCCESS" and len(consume.calls) == 1
    [row] = _waiting(engine_for)
    assert row.consumer == "mood.broken" and row.event == event
    assert "the owner service said no" in row.error


def test_an_admin_retry_sends_each_dead_letter_back_once(consume, engine_for):
    first, second = _event(), _event()
    for event in (first, second):
        consume.apply(args=("mood.broken", event), retries=3)
    dead = DeadLetters(engine_for)
    [only_first] = [row for row in dead.waiting("mood") if row["event_id"] == uuid.UUID(first["id"])]
    sent: list[tuple[str, dict]] = []
    assert dead.retry("mood", lambda name, event: sent.append((name, event)), [str(only_first["id"])]) == 1
    assert sent == [("mood.broken", first)]
    assert dead.retry("mood", lambda name, event: sent.append((name, event))) == 1
    assert sent[1] == ("mood.broken", second)
    assert dead.retry("mood", lambda name, event: sent.append((name, event))) == 0 and len(sent) == 2


def test_the_admin_command_lists_dead_letters(consume, engine_for, base_config, monkeypatch, capsys):
    event = _event()
    consume.apply(args=("mood.broken", event), retries=3)
    monkeypatch.setenv("DATABASE_URL", base_config["DATABASE_URL"])
    monkeypatch.setenv("REDIS_URL", base_config["REDIS_URL"])
    assert main(["dead-letters", "--service", "mood"]) == 0
    out = capsys.readouterr().out
    assert event["id"] in out and "mood.broken" in out


def test_the_admin_command_refuses_an_unknown_service(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["dead-letters", "--service", "nosuch"])
    assert exit_.value.code == 2


def test_the_consume_task_reports_done_to_the_publishers_ledger(base_config, engine_for):
    consumers = ConsumerRegistry()
    seen: list[str] = []
    consumers.subscribe("Thing", "mood.fine")(lambda event: seen.append(event["id"]))
    app = make_celery(Config(CELERY_BROKER_URL="memory://", REDIS_URL=""))
    register_event_tasks(app, consumers, ledger=DeliveryLedger(engine_for), dead_letters=DeadLetters(engine_for))
    event = _event()
    app.tasks[CONSUME_TASK].apply(args=("mood.fine", event, "auth"))
    with engine_for("auth").begin() as conn:
        done = conn.execute(
            text(
                "SELECT done_at IS NOT NULL FROM auth.outbox_deliveries WHERE event_id = :e AND consumer = 'mood.fine'"
            ),
            {"e": uuid.UUID(event["id"]), "c": "mood.fine"},
        ).scalar_one()
        conn.execute(text("DELETE FROM auth.outbox_deliveries"))
    assert seen == [event["id"]] and done is True


def test_an_event_naming_a_deleted_user_is_skipped_not_retried(base_config, engine_for):
    consumers = ConsumerRegistry()
    calls: list[str] = []

    def refuse(event: dict) -> None:
        """What a guard trigger raises for a row naming an erased user."""
        calls.append(event["id"])
        with engine_for("mood").begin() as conn:
            conn.execute(text("DO $$ BEGIN RAISE EXCEPTION 'erased' USING ERRCODE = 'HM410'; END $$"))

    consumers.subscribe("Thing", "mood.late")(refuse)
    app = make_celery(Config(CELERY_BROKER_URL="memory://", REDIS_URL="", EVENT_MAX_RETRIES=3))
    register_event_tasks(app, consumers, ledger=DeliveryLedger(engine_for), dead_letters=DeadLetters(engine_for))
    event = _event()
    result = app.tasks[CONSUME_TASK].apply(args=("mood.late", event, "auth"))
    assert result.successful() and calls == [event["id"]]  # once: no retry
    assert _waiting(engine_for) == []
    with engine_for("auth").begin() as conn:
        done = conn.execute(
            text("SELECT done_at IS NOT NULL FROM auth.outbox_deliveries WHERE event_id = :e"),
            {"e": uuid.UUID(event["id"])},
        ).scalar_one()
        conn.execute(text("DELETE FROM auth.outbox_deliveries"))
    assert done is True
