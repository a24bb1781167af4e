"""Preferences: defaults, deep-merge updates, validation, and their effect on what is created."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.notification import tasks
from services.notification.models import Delivery, Notification, db
from services.notification.service import TimezoneSource, delivery
from shared.http import ServiceClient
from tests.integration.notification.conftest import quiet_around_now, send

PATH = "/api/v1/notifications/preferences"


def deliveries(user_id: str) -> list[Delivery]:
    query = select(Delivery).where(Delivery.user_id == uuid.UUID(user_id))
    return list(db.session.execute(query).scalars())


def test_defaults(caller):
    body = caller().get(PATH).json
    assert body["quiet_hours"] is None
    assert body["types"]["hug_received"] == {"in_app": True, "push": True, "email": False}
    assert body["types"]["password_reset"] == {"in_app": True, "push": False, "email": True}
    assert body["types"]["email_verification"] == {"in_app": False, "push": False, "email": True}
    assert set(body["types"]) == {
        "hug_received",
        "hug_request",
        "group_hug_invite",
        "friend_request",
        "friend_accepted",
        "streak_milestone",
        "password_reset",
        "email_verification",
    }


def test_put_deep_merges_any_part_and_touches_only_the_caller(caller):
    alice, bob = caller(), caller()
    body = alice.put(PATH, json={"types": {"hug_received": {"push": False}}}).json
    assert body["types"]["hug_received"] == {"in_app": True, "push": False, "email": False}
    body = alice.put(
        PATH, json={"types": {"hug_received": {"email": True}}, "quiet_hours": {"start": "22:00", "end": "07:00"}}
    ).json
    assert body["types"]["hug_received"] == {"in_app": True, "push": False, "email": True}
    assert body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert alice.get(PATH).json == body
    assert alice.put(PATH, json={"quiet_hours": None}).json["quiet_hours"] is None
    assert alice.put(PATH, json={}).json["types"]["hug_received"]["email"] is True
    assert bob.get(PATH).json["types"]["hug_received"] == {"in_app": True, "push": True, "email": False}


@pytest.mark.parametrize(
    "body",
    [
        {"types": {"no_such_type": {"push": False}}},
        {"types": {"hug_received": {"sms": True}}},
        {"types": {"hug_received": {"push": "no"}}},
        {"types": {"hug_received": {"push": 0}}},
        {"types": {"hug_received": None}},
        {"types": []},
        {"quiet_hours": {"start": "22:00", "end": "22:00"}},
        {"quiet_hours": {"start": "24:00", "end": "07:00"}},
        {"quiet_hours": {"start": "7:00", "end": "08:00"}},
        {"quiet_hours": {"start": "22:00"}},
        {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "UTC"}},
        {"quiet_hours": "22:00-07:00"},
        {"colour": "blue"},
        {"types": {"password_reset": {"email": False}}},
        {"types": {"email_verification": {"email": False}}},
    ],
)
def test_put_rejects_bad_bodies(caller, body):
    alice = caller()
    response = alice.put(PATH, json=body)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json" and response.json["errors"]
    assert alice.get(PATH).json["quiet_hours"] is None


def test_put_rejects_non_json_and_get_rejects_query_parameters(caller):
    alice = caller()
    assert alice.put(PATH, data="{", content_type="application/json").status_code == 400
    assert alice.put(PATH, data="x", content_type="text/plain").status_code == 415
    assert alice.get(PATH, query_string={"user": "someone"}).status_code == 422


def test_in_app_off_stores_no_row_but_push_still_goes_out(caller, enqueued):
    alice = caller()
    alice.add_device("tok-in-app-off")
    alice.put(PATH, json={"types": {"hug_received": {"in_app": False}}})
    alice.hugged()
    assert alice.notifications() == []
    (push,) = deliveries(alice.id)
    assert push.channel == "push" and push.notification_id is None and enqueued == [push.id]


def test_push_off_creates_no_push_delivery(caller, enqueued):
    alice = caller()
    alice.add_device("tok-push-off")
    alice.put(PATH, json={"types": {"hug_received": {"push": False}}})
    alice.hugged()
    assert len(alice.notifications()) == 1 and deliveries(alice.id) == [] and enqueued == []


def test_quiet_hours_hold_push_until_they_end_but_store_in_app_at_once(caller, enqueued, sent, notification_app):
    alice = caller()  # unknown to the user service: its zone is UTC
    alice.add_device("tok-quiet")
    alice.put(PATH, json={"quiet_hours": quiet_around_now("UTC")})
    alice.hugged()
    assert len(alice.notifications()) == 1
    (push,) = deliveries(alice.id)
    assert enqueued == [] and push.enqueued_at is None
    held = push.due_at - datetime.now(UTC)
    assert timedelta(minutes=55) < held <= timedelta(hours=1)
    assert send(notification_app, push.id).status == "pending"  # not yet
    assert delivery.due_for_sending() == []
    later = push.due_at + timedelta(seconds=1)
    assert delivery.due_for_sending(now=later) == [push.id]
    assert send(notification_app, push.id, now=later).status == "sent"
    assert len(sent.push.sent) == 1


def test_quiet_hours_are_read_in_the_owners_time_zone(client, make_user, user_server, enqueued, token_for):
    import requests

    from tests.integration.notification.conftest import Caller

    user_id, token, _ = make_user()
    zone = "Pacific/Kiritimati"  # UTC+14: its clock is far from UTC's
    response = requests.put(
        f"{user_server}/api/v1/users/me",
        json={"timezone": zone},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    alice = Caller(client, user_id, token)
    alice.add_device("tok-zone")
    alice.put(PATH, json={"quiet_hours": quiet_around_now(zone)})
    alice.hugged()
    (push,) = deliveries(alice.id)
    assert push.due_at > datetime.now(UTC) + timedelta(minutes=55) and enqueued == []


def test_time_zone_falls_back_to_a_stale_copy_then_utc_when_the_user_service_is_down(redis_client):
    dead = ServiceClient("notification", {"user": ["http://127.0.0.1:9"]}, retries=0, token_provider=lambda: "t")
    source = TimezoneSource(dead, redis_client)
    assert source.get(uuid.uuid4()) == "UTC"
    known = uuid.uuid4()
    source.cache._write(str(known), "Asia/Tokyo")
    redis_client.set(f"hm:notification:tz:{known}", '{"value": "Asia/Tokyo", "at": 0}')  # stale, yet served
    assert source.get(known) == "Asia/Tokyo"


def test_notification_rows_follow_preferences_per_type(caller):
    alice = caller()
    alice.put(PATH, json={"types": {"friend_request": {"in_app": False}}})
    tasks.on_friend_requested(
        {
            "id": str(uuid.uuid4()),
            "type": "FriendRequested",
            "data": {"requester_id": str(uuid.uuid4()), "addressee_id": alice.id},
        }
    )
    alice.hugged()
    kinds = db.session.execute(select(Notification.type).where(Notification.user_id == uuid.UUID(alice.id))).scalars()
    assert list(kinds) == ["hug_received"]
