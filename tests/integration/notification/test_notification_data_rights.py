"""Data rights in the notification service: the caller's export, the admin's erasure report, the
UserDeleted consumer (which also cancels pushes and emails not yet sent), and writes or late
events naming an erased user."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.notification import tasks
from services.notification.models import (
    USER_DATA,
    Delivery,
    Device,
    Notification,
    NotificationCounter,
    Preference,
    ProcessedEvent,
    db,
)
from services.notification.service import delivery
from shared.pagination import encode_cursor
from shared.sqlstate import is_erasure_refusal
from tests.integration.notification.conftest import event, hug_sent

EXPORT = "/internal/v1/account/export"
PREFERENCES = "/api/v1/notifications/preferences"
TABLES = {
    "notifications",
    "notification_counters",
    "preferences",
    "devices",
    "deliveries",
    "outbox",
    "dead_letters",
}


def user_deleted(user_id: str) -> dict:
    return event("UserDeleted", user_id=user_id)


def rows(model, *where) -> list:
    return list(db.session.execute(select(model).where(*where)).scalars())


def quiet_now() -> dict[str, str]:
    """Quiet hours around now in UTC (the zone of a user the user service does not know)."""
    now = datetime.now(UTC)
    return {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M")}


@pytest.fixture
def erase(enqueued):
    """Run the UserDeleted consumer against the test app (the `enqueued` fixture points it there)."""

    def run(user_id: str, given: dict | None = None) -> dict:
        given = given or user_deleted(user_id)
        tasks.on_user_deleted(given)
        return given

    return run


def refused(response) -> None:
    """A write refused because it names an erased user (404 user.deleted)."""
    assert response.status_code == 404 and response.json["code"] == "user.deleted", response.json
    # The requests share the test's session, which a request's teardown would have reset.
    db.session.rollback()


def test_export_holds_the_callers_notifications_preferences_devices_and_deliveries(caller, enqueued):
    alice, bob = caller(), caller()
    alice.put(PREFERENCES, json={"types": {"friend_request": {"push": False}}, "quiet_hours": None})
    device = alice.add_device("alice-phone-token", "ios")
    tasks.on_hug_sent(hug_sent(alice.id, bob.id))
    token = "live-reset-token-42"
    tasks.on_password_reset_requested(
        event("PasswordResetRequested", user_id=alice.id, email="a@example.com", token=token, expires_at="soon")
    )
    # Bob's own: a notification about alice in his inbox, his device and preferences.
    bob.add_device("bob-phone-token")
    bob.put(PREFERENCES, json={"quiet_hours": {"start": "21:00", "end": "06:00"}})
    tasks.on_hug_sent(hug_sent(bob.id, alice.id))

    response = alice.get(EXPORT)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"notifications", "preferences", "devices", "deliveries"}
    assert [n["id"] for n in body["notifications"]] == [n["id"] for n in reversed(alice.notifications())]
    assert [n["type"] for n in body["notifications"]] == ["hug_received", "password_reset"]
    assert body["notifications"][0]["data"]["sender_id"] == bob.id
    assert body["preferences"]["types"]["friend_request"] == {"in_app": True, "push": False, "email": False}
    assert body["preferences"]["quiet_hours"] is None
    assert body["devices"] == [device]
    assert body["devices"][0]["device_token"] == "alice-phone-token"
    assert sorted((d["channel"], d["type"], d["status"]) for d in body["deliveries"]) == [
        ("email", "password_reset", "pending"),
        ("push", "hug_received", "pending"),
    ]
    push = next(d for d in body["deliveries"] if d["channel"] == "push")
    assert push["device_id"] == device["id"] and push["notification_id"] == body["notifications"][0]["id"]
    assert "payload" not in push and push["due_at"].endswith("Z") and push["sent_at"] is None
    text = json.dumps(body)
    assert token not in text and "bob-phone-token" not in text and "21:00" not in text


def test_export_of_someone_with_nothing_holds_the_default_preferences(caller):
    alice = caller()
    body = alice.get(EXPORT).json
    assert body == {
        "notifications": [],
        "preferences": alice.get(PREFERENCES).json,
        "devices": [],
        "deliveries": [],
    }


def test_data_rights_endpoints_need_a_token(client):
    assert client.get(EXPORT).status_code == 401
    assert client.get(f"/internal/v1/erasures/{uuid.uuid4()}").status_code == 401


def test_erasure_report_counts_rows_naming_the_user_for_admins_only(caller, erasure_report):
    alice, bob = caller(), caller()
    alice.add_device("tok-report")
    alice.put(PREFERENCES, json={"quiet_hours": None})
    alice.hugged(2)
    tasks.on_hug_sent(hug_sent(bob.id, alice.id))  # in bob's inbox, about alice
    response = erasure_report(alice.id)
    assert response.status_code == 200
    body = response.json
    assert body["user_id"] == alice.id and body["erased"] is False and set(body["rows"]) == TABLES
    assert body["rows"]["notifications"] == 3 and body["rows"]["notification_counters"] == 1
    assert body["rows"]["preferences"] == 1 and body["rows"]["devices"] == 1 and body["rows"]["deliveries"] == 2
    assert body["total"] == sum(body["rows"].values())
    assert erasure_report(bob.id).json["rows"]["notifications"] == 1
    assert alice.get(f"/internal/v1/erasures/{alice.id}").status_code == 403


@pytest.mark.parametrize("bad", ["nope", "0", f"{uuid.uuid4()}0"])
def test_erasure_report_of_a_malformed_id_is_404(erasure_report, bad):
    assert erasure_report(bad).status_code == 404


def test_user_deleted_erases_the_users_rows_and_notifications_about_them(caller, erasure_report, erase, redis_client):
    alice, bob, gone = caller(), caller(), caller()
    for person in (alice, gone):
        person.add_device(f"tok-{person.id}")
        person.put(PREFERENCES, json={"quiet_hours": quiet_now()})  # reads (and caches) their zone
    gone.hugged(2)
    tasks.on_hug_sent(hug_sent(alice.id, gone.id))  # about gone, in alice's inbox, with a held push
    tasks.on_hug_sent(hug_sent(alice.id, bob.id))  # about bob: stays
    tz = "hm:notification:tz:{}"
    for person in (alice, gone):  # cached time zones (set here: a user the user service lacks is not cached)
        redis_client.set(tz.format(person.id), '{"value": "Europe/Paris", "at": 0}')
    assert erasure_report(gone.id).json["total"] > 0

    given = erase(gone.id)

    report = erasure_report(gone.id).json
    assert report["erased"] is True and report["total"] == 0 and set(report["rows"]) == TABLES
    assert set(USER_DATA.remaining(db.session, gone.id).values()) == {0}
    gone_id = uuid.UUID(gone.id)
    for model in (Notification, NotificationCounter, Preference, Device, Delivery):
        assert rows(model, model.user_id == gone_id) == []
    [kept] = alice.notifications()
    assert kept["data"]["sender_id"] == bob.id
    [push] = rows(Delivery, Delivery.user_id == uuid.UUID(alice.id))
    assert push.payload["data"]["sender_id"] == bob.id
    assert len(rows(Device)) == 1 and len(rows(Preference)) == 1
    assert redis_client.exists(tz.format(gone.id)) == 0 and redis_client.exists(tz.format(alice.id)) == 1

    # Redelivered: nothing more to erase, a key cached meanwhile still goes, and it counts once.
    redis_client.set(tz.format(gone.id), '{"value": "UTC", "at": 0}')
    erase(gone.id, given)
    assert redis_client.exists(tz.format(gone.id)) == 0 and erasure_report(gone.id).json["total"] == 0
    claims = select(func.count()).where(ProcessedEvent.event_id == uuid.UUID(given["id"]))
    assert db.session.execute(claims).scalar_one() == 1


def test_erasure_cancels_pushes_and_emails_not_yet_sent(caller, erase, enqueued, sent):
    alice, gone = caller(), caller()
    alice.add_device("tok-alice")
    gone.add_device("tok-gone")
    gone.hugged()
    tasks.on_password_reset_requested(
        event("PasswordResetRequested", user_id=gone.id, email="g@example.com", token="t", expires_at="soon")
    )
    tasks.on_hug_sent(hug_sent(alice.id, gone.id))  # alice's push about gone
    tasks.on_hug_sent(hug_sent(alice.id))  # alice's push about someone else
    cancelled = [
        d.id
        for d in rows(Delivery)
        if d.user_id == uuid.UUID(gone.id) or d.payload.get("data", {}).get("sender_id") == gone.id
    ]
    assert len(cancelled) == 3 and set(cancelled) < set(enqueued)
    [other] = [d for d in rows(Delivery) if d.id not in cancelled]

    erase(gone.id)

    # The sends already enqueued find their delivery gone: nothing sent, no error, no retry.
    for delivery_id in cancelled:
        assert tasks.deliver.run(str(delivery_id)) == "skipped"
    assert sent.push.sent == [] and sent.email.sent == []
    # The sweep never finds them again either (it still finds what is left).
    later = datetime.now(UTC) + delivery.LOST_AFTER + timedelta(minutes=1)
    assert delivery.due_for_sending(now=later) == [other.id]
    enqueued.clear()
    assert tasks.sweep_deliveries.run() == 0 and enqueued == []
    assert tasks.deliver.run(str(other.id)) == "sent" and len(sent.push.sent) == 1


def test_after_erasure_late_events_and_writes_naming_the_user_create_nothing(caller, erasure_report, erase, enqueued):
    alice, gone = caller(), caller()
    erase(gone.id)
    late = [
        (tasks.on_hug_sent, hug_sent(gone.id)),  # to gone
        (tasks.on_hug_sent, hug_sent(alice.id, gone.id)),  # from gone
        (tasks.on_friend_requested, event("FriendRequested", requester_id=gone.id, addressee_id=alice.id)),
        (tasks.on_streak_milestone, event("StreakMilestone", user_id=gone.id, days=7, streak_start="2026-11-01")),
    ]
    for handler, given in late:
        with pytest.raises(Exception) as raised:
            handler(given)
        assert is_erasure_refusal(raised.value), raised.value
    assert alice.notifications() == [] and rows(Notification) == [] and rows(Delivery) == []
    assert enqueued == []

    refused(gone.client.put(PREFERENCES, json={"quiet_hours": None}, headers=gone.headers))
    body = {"device_token": "tok-late", "device_type": "web"}
    refused(gone.client.post("/api/v1/devices", json=body, headers=gone.headers))
    assert erasure_report(gone.id).json["total"] == 0
    # Everyone else carries on.
    alice.hugged()
    assert len(alice.notifications()) == 1


def test_a_held_poll_leaves_no_per_user_key_or_waiter(caller, notification_app, redis_client):
    alice = caller()
    alice.hugged()
    cursor = encode_cursor(1)
    response = alice.get("/api/v1/notifications/poll", query_string={"cursor": cursor, "timeout": 1})
    assert response.status_code == 200 and response.json == {"items": [], "cursor": cursor}
    hub = notification_app.extensions["notification_wake"]
    assert alice.id not in hub.waiters
    assert [key for key in redis_client.scan_iter(match=f"*{alice.id}*")] == []
