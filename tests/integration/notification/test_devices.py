"""Devices: idempotent registration, ownership, and push fan-out, retries and invalid tokens."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.notification import tasks
from services.notification.models import Delivery, Device, db
from services.notification.service import delivery
from tests.integration.notification.conftest import send

PATH = "/api/v1/devices"


def pushes(user_id: str) -> list[Delivery]:
    query = select(Delivery).where(Delivery.user_id == uuid.UUID(user_id), Delivery.channel == "push")
    return list(db.session.execute(query).scalars())


def test_register_is_idempotent_per_token(caller):
    alice = caller()
    first = alice.post(PATH, json={"device_token": "tok-1", "device_type": "ios"})
    assert first.status_code == 201 and first.json["device_type"] == "ios" and first.json["is_active"] is True
    again = alice.post(PATH, json={"device_token": "tok-1", "device_type": "ios"})
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    listed = alice.get(PATH).json["items"]
    assert [d["id"] for d in listed] == [first.json["id"]]


def test_a_token_registered_by_another_user_is_refused_not_moved(caller):
    alice, bob = caller(), caller()
    device = alice.add_device("tok-alices-phone")
    taken = bob.post(PATH, json={"device_token": "tok-alices-phone", "device_type": "android"})
    assert taken.status_code == 409 and taken.content_type == "application/problem+json"
    assert taken.json["code"] == "notification.device_token_taken"
    assert [d["id"] for d in alice.get(PATH).json["items"]] == [device["id"]]
    assert alice.get(PATH).json["items"][0]["device_type"] == device["device_type"]
    assert bob.get(PATH).json["items"] == []
    assert bob.delete(f"{PATH}/{device['id']}").status_code == 404


def test_a_pending_push_never_reaches_a_phone_that_changed_hands(caller, notification_app, sent):
    alice, bob = caller(), caller()
    device = alice.add_device("tok-sold")
    alice.hugged()
    (push,) = pushes(alice.id)
    assert alice.delete(f"{PATH}/{device['id']}").status_code == 204  # signing out frees the token
    assert bob.post(PATH, json={"device_token": "tok-sold", "device_type": "ios"}).status_code == 201
    assert send(notification_app, push.id).status == "failed"
    assert sent.push.sent == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"device_token": "t"},
        {"device_type": "ios"},
        {"device_token": "", "device_type": "ios"},
        {"device_token": "x" * 4097, "device_type": "ios"},
        {"device_token": "t", "device_type": "windows"},
        {"device_token": 12, "device_type": "ios"},
        {"device_token": "t", "device_type": "ios", "user_id": str(uuid.uuid4())},
        [],
    ],
)
def test_register_rejects_bad_bodies(caller, body):
    response = caller().post(PATH, json=body)
    assert response.status_code == 422, response.json


def test_longest_token_is_accepted_and_list_takes_no_parameters(caller):
    alice = caller()
    assert alice.post(PATH, json={"device_token": "x" * 4096, "device_type": "web"}).status_code == 201
    assert alice.get(PATH, query_string={"user_id": str(uuid.uuid4())}).status_code == 422


def test_delete_is_owner_only(caller):
    alice, mallory = caller(), caller()
    device = alice.add_device("tok-del")
    assert mallory.delete(f"{PATH}/{device['id']}").status_code == 404
    assert alice.delete(f"{PATH}/not-a-uuid").status_code == 404
    assert alice.delete(f"{PATH}/{uuid.uuid4()}").status_code == 404
    response = alice.delete(f"{PATH}/{device['id']}")
    assert response.status_code == 204 and alice.get(PATH).json["items"] == []
    assert mallory.get(PATH).json["items"] == []


def test_push_fans_out_to_each_active_device(caller, enqueued, notification_app, sent):
    alice, bob = caller(), caller()
    alice.add_device("tok-a1", "ios")
    alice.add_device("tok-a2", "android")
    inactive = alice.add_device("tok-a3", "web")
    db.session.get(Device, uuid.UUID(inactive["id"])).is_active = False
    db.session.commit()
    bob.add_device("tok-b1")
    alice.hugged()
    rows = pushes(alice.id)
    assert len(rows) == 2 and sorted(enqueued) == sorted(r.id for r in rows)
    for row in rows:
        tasks.deliver.run(str(row.id))
    assert sorted(m["token"] for m in sent.push.sent) == ["tok-a1", "tok-a2"]
    assert {m["title"] for m in sent.push.sent} == {"You got a hug"}


def test_deliver_is_idempotent(caller, notification_app, sent):
    alice = caller()
    alice.add_device("tok-once")
    alice.hugged()
    (push,) = pushes(alice.id)
    assert tasks.deliver.run(str(push.id)) == "sent"
    assert tasks.deliver.run(str(push.id)) == "skipped"
    assert len(sent.push.sent) == 1


def test_an_invalid_token_deactivates_the_device_without_retrying(caller, notification_app, sent):
    alice = caller()
    device = alice.add_device("invalid-token-1")
    alice.hugged()
    (push,) = pushes(alice.id)
    result = send(notification_app, push.id)
    assert result.status == "failed" and result.retry_in is None
    assert alice.get(PATH).json["items"][0]["is_active"] is False
    alice.hugged()
    assert len(pushes(alice.id)) == 1  # an inactive device gets no more pushes
    again = alice.post(PATH, json={"device_token": "invalid-token-1", "device_type": "android"})
    assert again.status_code == 200 and again.json["is_active"] is True and again.json["id"] == device["id"]


def test_a_failing_send_is_retried_with_backoff_then_marked_failed(caller, notification_app, sent):
    alice = caller()
    alice.add_device("failing-token")
    alice.hugged()
    (push,) = pushes(alice.id)
    waits = []
    now = push.due_at
    for _ in range(delivery.MAX_ATTEMPTS):
        result = send(notification_app, push.id, now=now)
        if result.retry_in is None:
            break
        waits.append(result.retry_in)
        now = now + delivery.timedelta(seconds=result.retry_in)
    assert result.status == "failed"
    assert waits == [2, 4, 8, 16, 32, 60, 60] and max(waits) <= 60
    db.session.expire_all()
    row = db.session.get(Delivery, push.id)
    assert row.attempts == delivery.MAX_ATTEMPTS and row.status == "failed" and row.last_error


def test_the_sweep_re_enqueues_a_lost_delivery_once(caller, notification_app):
    alice = caller()
    alice.add_device("tok-lost")
    alice.hugged()
    (push,) = pushes(alice.id)
    assert delivery.due_for_sending() == []  # just enqueued: not lost yet
    later = push.due_at + delivery.LOST_AFTER + delivery.timedelta(seconds=1)
    assert delivery.due_for_sending(now=later) == [push.id]
    assert delivery.due_for_sending(now=later) == []  # claimed: not enqueued twice


def test_the_sweep_task_enqueues_what_it_claims(caller, enqueued, monkeypatch):
    alice = caller()
    alice.add_device("tok-sweep")
    alice.put("/api/v1/notifications/preferences", json={"quiet_hours": None})
    alice.hugged()
    (push,) = pushes(alice.id)
    push.enqueued_at = None
    db.session.commit()
    enqueued.clear()
    assert tasks.sweep_deliveries.run() == 1 and enqueued == [push.id]


def test_the_deliver_task_asks_celery_to_retry_with_a_short_countdown(caller, monkeypatch):
    alice = caller()
    alice.add_device("failing-again")
    alice.hugged()
    (push,) = pushes(alice.id)
    asked: dict = {}

    class Retry(Exception):
        pass

    def retry(**kwargs):
        asked.update(kwargs)
        return Retry()

    monkeypatch.setattr(tasks.deliver, "retry", retry)
    with pytest.raises(Retry):
        tasks.deliver.run(str(push.id))
    assert asked == {"countdown": 2}
    assert tasks.deliver.max_retries == 8
