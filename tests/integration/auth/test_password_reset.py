"""Password-reset requests: the same work whether or not the address has an account, and a cap on
reset emails per account."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import event, select, update

from services.auth.models import OutboxEvent, PasswordResetToken, db
from services.auth.service.accounts import RESET_EMAILS_PER_HOUR
from tests.integration.auth.conftest import register

RESET = "/api/v1/auth/password/reset"


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run meanwhile, with their parameters left out (and the savepoints of the
    test's rolled-back transaction, which stand in for the request's BEGIN and COMMIT)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not re.match(r"(RELEASE |ROLLBACK TO )?SAVEPOINT", statement):
            seen.append(re.sub(r"\s+", " ", statement).strip())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def reset_events() -> list[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.event_type == "PasswordResetRequested")
    return db.session.execute(query).scalars().all()


def test_reset_requests_for_known_and_unknown_addresses_run_the_same_statements(client):
    register(client)
    with statements() as known:
        assert client.post(RESET, json={"email": "alice@example.com"}).status_code == 202
    with statements() as unknown:
        assert client.post(RESET, json={"email": "nobody@example.com"}).status_code == 202
    assert known and known == unknown
    assert len(reset_events()) == 1  # the work's outcome still differs: one email, to alice


def test_reset_emails_are_capped_per_account_and_hour(client):
    user_id = register(client)["user"]["id"]
    answers = [client.post(RESET, json={"email": "Alice@example.com"}) for _ in range(RESET_EMAILS_PER_HOUR + 4)]
    assert {(a.status_code, a.data) for a in answers} == {(202, b"")}
    events = reset_events()
    assert len(events) == RESET_EMAILS_PER_HOUR
    # The dropped requests did not spend the last token that was emailed.
    last = events[-1].payload["data"]["token"]
    confirm = client.post("/api/v1/auth/password/reset/confirm", json={"token": last, "password": "river stones 42"})
    assert confirm.status_code == 204
    # An hour on, the account gets reset emails again.
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id)
        .values(created_at=PasswordResetToken.created_at - timedelta(minutes=61))
    )
    assert client.post(RESET, json={"email": "alice@example.com"}).status_code == 202
    assert len(reset_events()) == RESET_EMAILS_PER_HOUR + 1


def test_the_cap_of_one_account_leaves_others_alone(client):
    register(client)
    register(client, "bob")
    for _ in range(RESET_EMAILS_PER_HOUR + 2):
        client.post(RESET, json={"email": "alice@example.com"})
    client.post(RESET, json={"email": "bob@example.com"})
    emails = [e.payload["data"]["email"] for e in reset_events()]
    assert emails.count("bob@example.com") == 1
