"""Notifications from events, and the owner's list, read, read-all and delete."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.notification import service, tasks
from services.notification.models import Delivery, Notification, db
from services.notification.service import Draft
from tests.integration.conditional import assert_etag_and_304
from tests.integration.notification.conftest import event, hug_sent

BAD_ID = "not-a-uuid"


def count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.execute(query).scalar_one()


def test_hug_sent_notifies_the_recipient_with_ids_in_data(caller):
    alice = caller()
    sender = str(uuid.uuid4())
    hug = hug_sent(
        alice.id,
        sender,
    )
    tasks.on_hug_sent(hug)
    (item,) = alice.notifications()
    assert item["type"] == "hug_received" and item["is_read"] is False
    assert item["data"]["hug_id"] == hug["data"]["hug_id"] and item["data"]["sender_id"] == sender
    assert "bear hug" in item["body"] and item["title"]
    assert set(item) == {"id", "type", "title", "body", "data", "is_read", "read_at", "created_at"}


def test_a_redelivered_event_creates_nothing_twice(caller, enqueued):
    alice = caller()
    alice.add_device("tok-redelivery")
    hug = hug_sent(alice.id)
    tasks.on_hug_sent(hug)
    tasks.on_hug_sent(hug)
    assert len(alice.notifications()) == 1
    assert count(Delivery, user_id=uuid.UUID(alice.id)) == 1
    assert len(enqueued) == 1


def test_one_events_notifications_for_a_user_take_consecutive_numbers_in_draft_order(caller):
    alice, bob = caller(), caller()
    alice.hugged()  # seq 1
    a, b = uuid.UUID(alice.id), uuid.UUID(bob.id)
    drafts = [
        Draft(a, "hug_received", "A1", "a1"),
        Draft(b, "hug_received", "B1", "b1"),
        Draft(a, "hug_received", "A2", "a2"),
    ]
    outcome = service.inbox.create(drafts, event_id=str(uuid.uuid4()), consumer="test", timezone_of=lambda _: "UTC")
    assert [(n.title, n.seq) for n in outcome.created[a]] == [("A1", 2), ("A2", 3)]
    assert [(n.title, n.seq) for n in outcome.created[b]] == [("B1", 1)]
    assert [item["title"] for item in alice.notifications()] == ["A2", "A1", "You got a hug"]
    assert [item["title"] for item in bob.notifications()] == ["B1"]


def test_a_failed_write_keeps_nothing_not_even_the_claim_so_the_redelivery_acts(caller, enqueued, monkeypatch):
    alice = caller()
    alice.add_device("tok-deleted-meanwhile")
    hug = hug_sent(alice.id)
    read = service.preferences.with_active_devices

    def device_gone(user_ids):  # the device was deleted between the read and the write
        return {user: (prefs, [uuid.uuid4()]) for user, (prefs, _devices) in read(user_ids).items()}

    monkeypatch.setattr(service.preferences, "with_active_devices", device_gone)
    with pytest.raises(IntegrityError):
        tasks.on_hug_sent(hug)
    assert alice.notifications() == [] and enqueued == []
    monkeypatch.setattr(service.preferences, "with_active_devices", read)
    tasks.on_hug_sent(hug)  # redelivered: the first attempt kept nothing, its claim included
    assert len(alice.notifications()) == 1
    assert count(Delivery, user_id=uuid.UUID(alice.id)) == 1 and len(enqueued) == 1


@pytest.mark.parametrize(
    ("handler", "event_type", "data", "recipient_key", "expected_type"),
    [
        (
            "on_hug_requested",
            "HugRequested",
            {"hug_request_id": "R", "requester_id": "Q", "recipient_id": "T", "message": "please"},
            "recipient_id",
            "hug_request",
        ),
        (
            "on_friend_requested",
            "FriendRequested",
            {"requester_id": "Q", "addressee_id": "T"},
            "addressee_id",
            "friend_request",
        ),
        (
            "on_friendship_accepted",
            "FriendshipAccepted",
            {"user_id": "T", "friend_id": "Q"},
            "user_id",
            "friend_accepted",
        ),
        (
            "on_streak_milestone",
            "StreakMilestone",
            {"user_id": "T", "days": 7, "streak_start": "2026-11-15"},
            "user_id",
            "streak_milestone",
        ),
    ],
)
def test_each_event_notifies_the_right_user(caller, handler, event_type, data, recipient_key, expected_type):
    target, other = caller(), caller()
    data = {k: (target.id if v == "T" else str(uuid.uuid4()) if v in {"Q", "R"} else v) for k, v in data.items()}
    getattr(tasks, handler)(event(event_type, **data))
    (item,) = target.notifications()
    assert item["type"] == expected_type
    assert other.notifications() == []
    ids = {v for k, v in data.items() if k.endswith("_id") and k != recipient_key}
    assert ids <= set(map(str, item["data"].values()))


def test_a_community_hug_request_notifies_nobody(caller):
    tasks.on_hug_requested(
        event(
            "HugRequested",
            hug_request_id=str(uuid.uuid4()),
            requester_id=str(uuid.uuid4()),
            recipient_id=None,
            message=None,
        )
    )
    assert count(Notification) == 0


def test_group_hug_invites_every_participant_but_the_creator(caller):
    creator, a, b = caller(), caller(), caller()
    tasks.on_group_hug_created(
        event(
            "GroupHugCreated",
            group_hug_id=str(uuid.uuid4()),
            creator_id=creator.id,
            name="Friday circle",
            participant_ids=[creator.id, a.id, b.id, a.id],
            expires_at="2026-11-23T10:00:00Z",
        )
    )
    assert creator.notifications() == []
    for person in (a, b):
        (item,) = person.notifications()
        assert item["type"] == "group_hug_invite" and "Friday circle" in item["body"]


def test_password_reset_emails_the_token_but_never_stores_it_in_app(client, caller, sent, enqueued, notification_app):
    alice = caller()
    token = "secret-reset-token-123"
    tasks.on_password_reset_requested(
        event(
            "PasswordResetRequested",
            user_id=alice.id,
            email="alice@example.com",
            token=token,
            expires_at="2026-11-22T02:00:00Z",
        )
    )
    (item,) = alice.notifications()
    assert item["type"] == "password_reset"
    assert token not in str(item)
    stored = db.session.execute(select(Notification).where(Notification.user_id == uuid.UUID(alice.id))).scalar_one()
    assert token not in f"{stored.title} {stored.body} {stored.data}"
    (delivery,) = db.session.execute(select(Delivery).where(Delivery.user_id == uuid.UUID(alice.id))).scalars()
    assert delivery.channel == "email" and token in delivery.payload["body"]
    assert enqueued == [delivery.id]

    tasks.deliver.run(str(delivery.id))
    (mail,) = sent.email.sent
    assert mail["to"] == "alice@example.com" and token in mail["body"]
    assert "reset-password?token=" + token in mail["body"]
    db.session.expire_all()
    scrubbed = db.session.get(Delivery, delivery.id)
    assert scrubbed.status == "sent" and token not in str(scrubbed.payload)
    assert scrubbed.payload == {"to": "alice@example.com", "subject": mail["subject"]}
    assert sent.push.sent == []  # push is off for password resets by default


def test_sequence_numbers_are_per_user_and_increasing(caller):
    alice, bob = caller(), caller()
    alice.hugged(3)
    bob.hugged(1)
    seqs = db.session.execute(
        select(Notification.seq).where(Notification.user_id == uuid.UUID(alice.id)).order_by(Notification.created_at)
    ).scalars()
    assert list(seqs) == [1, 2, 3]
    assert (
        db.session.execute(select(Notification.seq).where(Notification.user_id == uuid.UUID(bob.id))).scalar_one() == 1
    )


def test_list_is_newest_first_with_a_cursor_and_an_unread_filter(caller):
    alice = caller()
    alice.hugged(5)
    first = alice.get("/api/v1/notifications", query_string={"limit": 2}).json
    second = alice.get("/api/v1/notifications", query_string={"limit": 2, "cursor": first["next_cursor"]}).json
    third = alice.get("/api/v1/notifications", query_string={"limit": 2, "cursor": second["next_cursor"]}).json
    everything = alice.notifications(limit=100)
    assert [i["id"] for i in first["items"] + second["items"] + third["items"]] == [i["id"] for i in everything]
    assert third["next_cursor"] is None and len(everything) == 5
    alice.put(f"/api/v1/notifications/{everything[0]['id']}/read")
    unread = alice.notifications(unread="true")
    assert len(unread) == 4 and everything[0]["id"] not in {i["id"] for i in unread}
    assert len(alice.notifications(unread="false")) == 5


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"unread": "yes"}, {"unread": "1"}, {"cursor": "!!"}, {"page": 2}],
)
def test_list_rejects_bad_query_parameters(caller, query):
    response = caller().get("/api/v1/notifications", query_string=query)
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_mark_read_is_owner_only(caller):
    alice, mallory = caller(), caller()
    alice.hugged()
    (item,) = alice.notifications()
    assert mallory.put(f"/api/v1/notifications/{item['id']}/read").status_code == 404
    assert alice.notifications()[0]["is_read"] is False
    response = alice.put(f"/api/v1/notifications/{item['id']}/read")
    assert response.status_code == 200 and response.json["is_read"] is True and response.json["read_at"]
    assert alice.put(f"/api/v1/notifications/{item['id']}/read").status_code == 200  # idempotent


def test_mark_read_rejects_bodies_and_malformed_or_unknown_ids(caller):
    alice = caller()
    alice.hugged()
    (item,) = alice.notifications()
    assert alice.put(f"/api/v1/notifications/{item['id']}/read", json={"is_read": False}).status_code == 422
    assert alice.put(f"/api/v1/notifications/{BAD_ID}/read").status_code == 404
    assert alice.put(f"/api/v1/notifications/{uuid.uuid4()}/read").status_code == 404
    response = alice.put(f"/api/v1/notifications/{item['id']}/read", data="{", content_type="application/json")
    assert response.status_code == 400


def test_get_one_is_owner_only(caller):
    alice, mallory = caller(), caller()
    alice.hugged()
    (item,) = alice.notifications()
    assert alice.get(f"/api/v1/notifications/{item['id']}").json["id"] == item["id"]
    assert mallory.get(f"/api/v1/notifications/{item['id']}").status_code == 404
    assert alice.get(f"/api/v1/notifications/{BAD_ID}").status_code == 404
    assert alice.get(f"/api/v1/notifications/{item['id']}", query_string={"x": 1}).status_code == 422


def test_delete_is_owner_only(caller):
    alice, mallory = caller(), caller()
    alice.hugged()
    (item,) = alice.notifications()
    assert mallory.delete(f"/api/v1/notifications/{item['id']}").status_code == 404
    assert alice.delete(f"/api/v1/notifications/{BAD_ID}").status_code == 404
    response = alice.delete(f"/api/v1/notifications/{item['id']}")
    assert response.status_code == 204 and response.data == b""
    assert alice.delete(f"/api/v1/notifications/{item['id']}").status_code == 404
    assert alice.notifications() == []


def test_read_all_marks_only_the_callers_notifications(caller):
    alice, bob = caller(), caller()
    alice.hugged(3)
    bob.hugged(2)
    response = alice.put("/api/v1/notifications/read-all")
    assert response.status_code == 200 and response.json == {"updated": 3}
    assert alice.put("/api/v1/notifications/read-all").json == {"updated": 0}
    assert all(not i["is_read"] for i in bob.notifications())
    assert alice.put("/api/v1/notifications/read-all", json={"all": True}).status_code == 422


def test_every_endpoint_needs_a_token(client):
    for method, path in [
        ("get", "/api/v1/notifications"),
        ("get", "/api/v1/notifications/poll"),
        ("get", "/api/v1/notifications/preferences"),
        ("put", "/api/v1/notifications/read-all"),
        ("get", "/api/v1/devices"),
        ("post", "/api/v1/devices"),
    ]:
        assert getattr(client, method)(path).status_code == 401, path


def test_a_notification_has_an_etag_that_changes_when_it_is_read(caller):
    alice = caller()
    alice.hugged()
    item = alice.notifications()[0]
    path = f"/api/v1/notifications/{item['id']}"
    tag = assert_etag_and_304(alice.get, path)
    assert alice.put(f"{path}/read").status_code == 200
    assert alice.get(path, headers={"If-None-Match": tag}).status_code == 200
    assert caller().get(path, headers={"If-None-Match": tag}).status_code == 404


def test_a_delete_with_a_stale_etag_is_412_and_keeps_the_notification(caller):
    alice = caller()
    alice.hugged()
    path = f"/api/v1/notifications/{alice.notifications()[0]['id']}"
    old = alice.get(path).headers["ETag"]
    assert alice.put(f"{path}/read").status_code == 200
    stale = alice.delete(path, headers={"If-Match": old})
    assert stale.status_code == 412 and stale.json["code"] == "precondition.failed"
    assert alice.get(path).status_code == 200
    malformed = alice.delete(path, headers={"If-Match": "not-an-etag"})
    assert malformed.status_code == 400 and malformed.json["code"] == "precondition.malformed"
    assert caller().delete(path, headers={"If-Match": "*"}).status_code == 404  # not theirs: never 412
    assert alice.delete(path, headers={"If-Match": alice.get(path).headers["ETag"]}).status_code == 204
    assert alice.get(path).status_code == 404
