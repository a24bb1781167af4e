"""Email verification: a single-use, expiring token per registration, confirmed through a public
endpoint; a rate-limited resend for the signed-in owner; the verified mark in /me and the contact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.auth.models import EmailVerificationToken, OutboxEvent, User, db
from services.auth.service import verification
from tests.integration.auth.conftest import bearer, register

VERIFY = "/api/v1/auth/email/verify"
RESEND = "/api/v1/auth/email/verify/resend"


def notification_token(client) -> str:
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "notification", "client_secret": "dev-service-secret"},
    )
    return response.json["access_token"]


def sent_tokens(user_id: str) -> list[dict]:
    """The EmailVerificationRequested events of one user, oldest first."""
    events = db.session.execute(
        select(OutboxEvent)
        .where(OutboxEvent.event_type == "EmailVerificationRequested")
        .order_by(OutboxEvent.created_at)
    ).scalars()
    return [e.payload["data"] for e in events if e.payload["data"]["user_id"] == user_id]


def me(client, session: dict) -> dict:
    response = client.get("/api/v1/auth/me", headers=bearer(session["access_token"]))
    assert response.status_code == 200, response.json
    return response.json


def test_register_sends_a_verification_token_and_confirming_it_verifies_the_address(client):
    session = register(client)
    assert session["user"]["email_verified"] is False and me(client, session)["email_verified"] is False
    (sent,) = sent_tokens(session["user"]["id"])
    assert sent["email"] == "alice@example.com" and sent["token"]
    assert datetime.fromisoformat(sent["expires_at"]) > datetime.now(UTC) + timedelta(hours=23)
    stored = db.session.execute(select(EmailVerificationToken.token_hash)).scalars().all()
    assert sent["token"] not in stored  # only its hash is kept

    confirmed = client.post(VERIFY, json={"token": sent["token"]})
    assert confirmed.status_code == 204
    assert me(client, session)["email_verified"] is True


def test_a_verification_token_works_once(client):
    session = register(client)
    (sent,) = sent_tokens(session["user"]["id"])
    assert client.post(VERIFY, json={"token": sent["token"]}).status_code == 204
    again = client.post(VERIFY, json={"token": sent["token"]})
    assert again.status_code == 422 and again.json["code"] == "auth.invalid_verification_token"
    assert again.headers["Content-Type"] == "application/problem+json" and "token" in again.json["errors"]


def test_an_expired_verification_token_is_refused(client):
    session = register(client)
    (sent,) = sent_tokens(session["user"]["id"])
    db.session.execute(update(EmailVerificationToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    refused = client.post(VERIFY, json={"token": sent["token"]})
    assert refused.status_code == 422 and refused.json["code"] == "auth.invalid_verification_token"
    assert me(client, session)["email_verified"] is False


@pytest.mark.parametrize("body", [{"token": "not-a-token"}, {"token": ""}, {"token": "x" * 300}, {}, {"token": 7}])
def test_bad_verification_tokens_are_a_422_problem(client, body):
    response = client.post(VERIFY, json=body)
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
    assert "token" in response.json["errors"]


def test_a_token_verifies_only_the_account_and_address_it_was_sent_for(client):
    alice, bob = register(client, "alice"), register(client, "bob")
    (bobs,) = sent_tokens(bob["user"]["id"])
    assert client.post(VERIFY, json={"token": bobs["token"]}).status_code == 204
    assert me(client, bob)["email_verified"] is True
    assert me(client, alice)["email_verified"] is False  # bob's token did nothing for alice
    # A token sent to an address the account no longer has verifies nothing.
    (alices,) = sent_tokens(alice["user"]["id"])
    db.session.execute(update(User).where(User.username == "alice").values(email="alice2@example.com"))
    assert client.post(VERIFY, json={"token": alices["token"]}).status_code == 422
    assert me(client, alice)["email_verified"] is False


def test_resend_replaces_the_token_and_is_limited_per_account(client):
    session = register(client)
    user_id = session["user"]["id"]
    headers = bearer(session["access_token"])
    for _ in range(verification.SEND_LIMIT - 1):  # the registration's email counts too
        assert client.post(RESEND, headers=headers).status_code == 202
    tokens = [sent["token"] for sent in sent_tokens(user_id)]
    assert len(tokens) == verification.SEND_LIMIT
    refused = client.post(RESEND, headers=headers, json={})
    assert refused.status_code == 429 and refused.json["code"] == "auth.verification_throttled"
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert len(sent_tokens(user_id)) == verification.SEND_LIMIT
    # Only the latest token works.
    assert client.post(VERIFY, json={"token": tokens[0]}).status_code == 422
    assert client.post(VERIFY, json={"token": tokens[-1]}).status_code == 204
    # Once verified there is nothing to resend; an hour later the budget is back.
    db.session.execute(
        update(EmailVerificationToken).values(created_at=EmailVerificationToken.created_at - timedelta(hours=1))
    )
    done = client.post(RESEND, headers=headers)
    assert done.status_code == 409 and done.json["code"] == "auth.email_already_verified"


def test_resend_needs_a_signed_in_caller_and_takes_no_fields(client):
    session = register(client)
    assert client.post(RESEND).status_code == 401
    assert (
        client.post(RESEND, headers=bearer(session["access_token"]), json={"user_id": str(uuid.uuid4())}).status_code
        == 422
    )


def test_the_contact_lookup_says_whether_the_address_is_verified(client):
    session = register(client)
    path = f"/internal/v1/auth/users/{session['user']['id']}/contact"
    headers = bearer(notification_token(client))
    assert client.get(path, headers=headers).json == {"email": "alice@example.com", "verified": False}
    (sent,) = sent_tokens(session["user"]["id"])
    client.post(VERIFY, json={"token": sent["token"]})
    assert client.get(path, headers=headers).json == {"email": "alice@example.com", "verified": True}
