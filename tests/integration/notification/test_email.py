"""Email for every notification type: sent when the owner turns it on, to the address the auth
service gives when the email goes out (never stored here)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
import requests
from sqlalchemy import create_engine, make_url, select, text

from services.notification import tasks
from services.notification.models import Delivery, Notification, db
from services.notification.service import delivery, preferences
from shared.http import ServiceClient
from tests.integration.notification.conftest import Caller, event, hug_sent, providers, quiet_around_now, send

PREFS = "/api/v1/notifications/preferences"
EMAIL_ON = {"email": True}


def emails(user_id: str) -> list[Delivery]:
    query = select(Delivery).where(Delivery.user_id == uuid.UUID(user_id), Delivery.channel == "email")
    return list(db.session.execute(query).scalars())


@pytest.fixture
def account(client, make_user) -> tuple[Caller, str, str]:
    """A real account (the auth service knows its address, which its owner verified) calling the
    notification service: the caller, the address, the access token."""
    user_id, token, username = make_user(verified=True)
    return Caller(client, user_id, token), f"{username}@example.com", token


def test_email_on_for_hugs_sends_one_email_to_the_recipients_address(account, enqueued, sent, notification_app):
    alice, address, _ = account
    assert alice.put(PREFS, json={"types": {"hug_received": EMAIL_ON}}).status_code == 200
    hug = hug_sent(alice.id)
    hug["data"]["message"] = "thinking of you"
    tasks.on_hug_sent(hug)
    (row,) = emails(alice.id)
    assert enqueued == [row.id]
    assert address not in json.dumps(row.payload) and "to" not in row.payload  # looked up when sent

    assert tasks.deliver.run(str(row.id)) == "sent"
    (mail,) = sent.email.sent
    (item,) = alice.notifications()
    assert mail["to"] == address and mail["subject"] == "HugMood: You got a hug"
    # What the email says is what the notification shows in-app (the hug's message included).
    assert mail["body"].startswith(item["body"] + "\n\n") and "thinking of you" in item["body"]
    db.session.expire_all()
    stored = db.session.get(Delivery, row.id)
    assert stored.status == "sent" and address not in json.dumps(stored.payload)
    notification = db.session.execute(select(Notification).where(Notification.user_id == uuid.UUID(alice.id))).one()
    assert address not in str(notification)
    assert tasks.deliver.run(str(row.id)) == "skipped" and len(sent.email.sent) == 1


def test_email_is_off_by_default_for_hugs(account, enqueued, sent):
    alice, _, _ = account
    alice.hugged()
    assert len(alice.notifications()) == 1
    assert emails(alice.id) == [] and enqueued == [] and sent.email.sent == []


@pytest.mark.parametrize(
    ("handler", "event_type", "data", "kind"),
    [
        ("on_hug_sent", "HugSent", {"hug_id": "X", "sender_id": "X", "recipient_id": "T"}, "hug_received"),
        (
            "on_hug_requested",
            "HugRequested",
            {"hug_request_id": "X", "requester_id": "X", "recipient_id": "T"},
            "hug_request",
        ),
        (
            "on_group_hug_created",
            "GroupHugCreated",
            {"group_hug_id": "X", "creator_id": "X", "participant_ids": ["T"], "name": "Friday", "expires_at": None},
            "group_hug_invite",
        ),
        ("on_friend_requested", "FriendRequested", {"requester_id": "X", "addressee_id": "T"}, "friend_request"),
        ("on_friendship_accepted", "FriendshipAccepted", {"user_id": "T", "friend_id": "X"}, "friend_accepted"),
        ("on_streak_milestone", "StreakMilestone", {"user_id": "T", "days": 30}, "streak_milestone"),
    ],
)
def test_every_type_emails_when_its_email_channel_is_on(account, enqueued, sent, handler, event_type, data, kind):
    alice, address, _ = account
    alice.put(PREFS, json={"types": {kind: EMAIL_ON}})
    data = {k: (alice.id if v == "T" else str(uuid.uuid4()) if v == "X" else v) for k, v in data.items()}
    if "participant_ids" in data:
        data["participant_ids"] = [alice.id]
    getattr(tasks, handler)(event(event_type, **data))
    (row,) = emails(alice.id)
    assert row.type == kind and enqueued == [row.id]
    assert tasks.deliver.run(str(row.id)) == "sent"
    (mail,) = sent.email.sent
    (item,) = alice.notifications()
    assert mail["to"] == address and mail["subject"] == f"HugMood: {item['title']}"
    assert mail["body"].startswith(item["body"] + "\n\n")


def test_quiet_hours_hold_back_push_but_not_email(caller, enqueued):
    alice = caller()  # unknown to the user service: its zone is UTC
    alice.add_device("tok-quiet-email")
    now = datetime.now(UTC)
    alice.put(PREFS, json={"types": {"hug_received": EMAIL_ON}, "quiet_hours": quiet_around_now("UTC")})
    alice.hugged()
    rows = db.session.execute(select(Delivery).where(Delivery.user_id == uuid.UUID(alice.id))).scalars()
    by_channel = {row.channel: row for row in rows}
    assert by_channel["push"].due_at > now + timedelta(minutes=55)
    assert by_channel["email"].due_at <= datetime.now(UTC) and enqueued == [by_channel["email"].id]


def test_an_email_to_a_deleted_account_is_given_up(account, auth_server, notification_app, sent):
    alice, _, token = account
    # The account is deleted at the auth service while a hug for it is on its way (this service's
    # own erasure, on UserDeleted, has not run yet). Deleted first: the erasure's advisory lock
    # would wait for this test's open transaction, which the notification rows below lock.
    gone = requests.delete(
        f"{auth_server}/api/v1/auth/account",
        json={"password": "a gentle evening tide"},
        headers={"Authorization": f"Bearer {token}", "X-Real-IP": "192.0.2.1"},
        timeout=5,
    )
    assert gone.status_code == 202, gone.text
    preferences.update(uuid.UUID(alice.id), {"types": {"hug_received": EMAIL_ON}})
    alice.hugged()
    (row,) = emails(alice.id)
    result = send(notification_app, row.id)
    assert result.status == "failed" and result.retry_in is None
    db.session.expire_all()
    row = db.session.get(Delivery, row.id)
    assert row.status == "failed" and "no longer exists" in row.last_error
    assert sent.email.sent == []
    assert delivery.due_for_sending(now=datetime.now(UTC) + timedelta(days=1)) == []  # never sent again


def test_an_email_waits_with_backoff_while_the_auth_service_is_unreachable(account, notification_app, sent):
    alice, address, _ = account
    alice.put(PREFS, json={"types": {"hug_received": EMAIL_ON}})
    alice.hugged()
    (row,) = emails(alice.id)
    dead = ServiceClient("notification", {"auth": ["http://127.0.0.1:9"]}, retries=0, token_provider=lambda: "t")
    result = delivery.deliver(
        delivery_id=row.id, providers=providers(notification_app), addresses=delivery.Addresses(dead)
    )
    assert result.status == "pending" and result.retry_in == delivery.backoff(1)
    db.session.expire_all()
    row = db.session.get(Delivery, row.id)
    assert row.status == "pending" and row.attempts == 1 and "auth service" in row.last_error
    assert sent.email.sent == []
    assert send(notification_app, row.id, now=row.due_at + timedelta(seconds=1)).status == "sent"
    assert [mail["to"] for mail in sent.email.sent] == [address]


def test_no_hug_email_goes_to_an_unverified_address_until_it_is_verified(
    client, make_user, verification_token, auth_server, enqueued, sent, notification_app
):
    user_id, token, username = make_user()  # registered, address not confirmed
    alice = Caller(client, user_id, token)
    assert alice.put(PREFS, json={"types": {"hug_received": EMAIL_ON}}).status_code == 200
    alice.hugged()
    (row,) = emails(alice.id)
    assert tasks.deliver.run(str(row.id)) == "failed"
    db.session.expire_all()
    assert db.session.get(Delivery, row.id).last_error == "the address is not verified"
    assert sent.email.sent == [] and len(alice.notifications()) == 1  # in-app still works

    confirmed = requests.post(
        f"{auth_server}/api/v1/auth/email/verify", json={"token": verification_token(user_id)}, timeout=5
    )
    assert confirmed.status_code == 204
    alice.hugged()
    (later,) = [r for r in emails(alice.id) if r.id != row.id]
    assert tasks.deliver.run(str(later.id)) == "sent"
    assert [mail["to"] for mail in sent.email.sent] == [f"{username}@example.com"]


def test_registering_emails_a_confirmation_link_that_verifies_the_address(
    client, make_user, database_url, auth_server, enqueued, sent, notification_app
):
    user_id, token, username = make_user()
    # The event as the outbox relay delivers it from the auth service's outbox.
    engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg2"))
    with engine.connect() as connection:
        (payload,) = connection.execute(
            text(
                "SELECT payload FROM auth.outbox WHERE event_type = 'EmailVerificationRequested'"
                " AND payload->'data'->>'user_id' = :user_id"
            ),
            {"user_id": user_id},
        ).scalars()
    engine.dispose()
    tasks.on_email_verification_requested(payload)
    (row,) = emails(user_id)
    assert row.type == "email_verification" and enqueued == [row.id]
    assert tasks.deliver.run(str(row.id)) == "sent"  # to an address nobody has verified yet
    (mail,) = sent.email.sent
    assert mail["to"] == f"{username}@example.com" and mail["subject"] == "Confirm your HugMood email address"
    verify_url = notification_app.config["HUGMOOD"].NOTIFICATION_EMAIL_VERIFY_URL
    (link,) = [line for line in mail["body"].splitlines() if line.startswith(verify_url)]
    db.session.expire_all()
    assert "body" not in db.session.get(Delivery, row.id).payload  # the token is not kept once sent
    assert Caller(client, user_id, token).notifications() == []  # the email only, by default

    confirmed = requests.post(
        f"{auth_server}/api/v1/auth/email/verify", json={"token": unquote(link[len(verify_url) :])}, timeout=5
    )
    assert confirmed.status_code == 204
    me = requests.get(f"{auth_server}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert me.json()["email_verified"] is True
