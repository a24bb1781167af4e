"""The user service's data rights: the caller's export, erasure on UserDeleted, the admin's
erasure report, and writes in flight that name an erased user."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from services.user import tasks
from services.user.models import USER_DATA, Block, FriendRequest, Friendship, OutboxEvent, Profile, db
from shared.sqlstate import is_erasure_refusal

EXPORT = "/internal/v1/account/export"


def user_deleted(user_id: str) -> dict[str, Any]:
    """The event as the relay delivers it."""
    return {
        "id": str(uuid.uuid4()),
        "type": "UserDeleted",
        "occurred_at": "2026-11-22T10:00:00+00:00",
        "data": {"user_id": user_id},
    }


@pytest.fixture
def circle(person):
    """Alice and everyone she relates to: friend Bob, her request to Carol, Dave's request to
    her, her block of Erin, Frank's block of her; and Bob and Carol are friends."""
    people = {name: person() for name in ("alice", "bob", "carol", "dave", "erin", "frank")}
    alice, bob, carol, dave, erin, frank = people.values()
    assert alice.put("/api/v1/users/me", json={"bio": "likes long walks"}).status_code == 200
    assert alice.put("/api/v1/users/me/privacy", json={"share_moods_with": "none"}).status_code == 200
    assert bob.put("/api/v1/users/me/privacy", json={"show_online_status": False}).status_code == 200
    assert alice.post(f"/api/v1/users/{bob.id}/friends").status_code == 201
    assert bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"}).status_code == 200
    assert alice.post(f"/api/v1/users/{carol.id}/friends").status_code == 201
    assert dave.post(f"/api/v1/users/{alice.id}/friends").status_code == 201
    assert alice.put(f"/api/v1/users/me/friends/{erin.id}", json={"status": "blocked"}).status_code == 200
    assert frank.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "blocked"}).status_code == 200
    assert bob.post(f"/api/v1/users/{carol.id}/friends").status_code == 201
    assert carol.put(f"/api/v1/users/me/friends/{bob.id}", json={"status": "accepted"}).status_code == 200
    return people


def ids(relations: list[dict[str, Any]]) -> list[str]:
    return [relation["user_id"] for relation in relations]


# ---- export -----------------------------------------------------------------------------------


def test_export_holds_the_callers_profile_settings_and_relations(circle):
    alice, bob, carol, dave, erin, frank = circle.values()
    response = alice.get(EXPORT)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {
        "profile",
        "privacy",
        "friends",
        "friend_requests_sent",
        "friend_requests_received",
        "blocked",
    }
    assert body["profile"]["user_id"] == alice.id and body["profile"]["bio"] == "likes long walks"
    assert body["profile"]["last_active"] is not None
    assert body["privacy"]["share_moods_with"] == "none" and body["privacy"]["updated_at"]
    assert ids(body["friends"]) == [bob.id]
    assert body["friends"][0]["username"] == bob.username and body["friends"][0]["since"]
    assert ids(body["friend_requests_sent"]) == [carol.id]
    assert ids(body["friend_requests_received"]) == [dave.id]
    assert ids(body["blocked"]) == [erin.id]


def test_export_holds_nothing_private_of_anyone_else(circle):
    alice, bob, carol, _dave, erin, frank = circle.values()
    # Frank blocked Alice: that is Frank's data, not hers.
    assert frank.id not in str(alice.get(EXPORT).json)
    bob_export = bob.get(EXPORT).json
    assert bob_export["privacy"]["show_online_status"] is False
    assert sorted(ids(bob_export["friends"])) == sorted([alice.id, carol.id])
    # Nothing of Alice's own settings, requests or blocks in her friend's export.
    flat = str(bob_export)
    assert "likes long walks" not in flat and erin.id not in flat and "none" not in flat
    assert frank.get(EXPORT).json["blocked"][0]["user_id"] == alice.id
    assert ids(erin.get(EXPORT).json["blocked"]) == []


def test_export_of_a_user_without_a_profile_yet_is_empty(client, token_for):
    stranger = str(uuid.uuid4())
    response = client.get(EXPORT, headers={"Authorization": f"Bearer {token_for(stranger)}"})
    assert response.status_code == 200
    assert response.json == {
        "profile": None,
        "privacy": None,
        "friends": [],
        "friend_requests_sent": [],
        "friend_requests_received": [],
        "blocked": [],
    }
    assert db.session.get(Profile, uuid.UUID(stranger)) is None


def test_export_needs_a_user_token(client, token_for):
    assert client.get(EXPORT).status_code == 401
    service = client.get(EXPORT, headers={"Authorization": f"Bearer {token_for('service:hug', roles=['service'])}"})
    assert service.status_code == 403


# ---- erasure ----------------------------------------------------------------------------------


def rows_naming(user_id: str) -> int:
    user = uuid.UUID(user_id)
    counts = [
        select(func.count()).select_from(Profile).where(Profile.user_id == user),
        select(func.count())
        .select_from(Friendship)
        .where((Friendship.user_id == user) | (Friendship.friend_id == user)),
        select(func.count())
        .select_from(FriendRequest)
        .where((FriendRequest.requester_id == user) | (FriendRequest.addressee_id == user)),
        select(func.count()).select_from(Block).where((Block.blocker_id == user) | (Block.blocked_id == user)),
    ]
    return sum(db.session.execute(count).scalar_one() for count in counts)


def test_user_deleted_erases_every_row_and_key_naming_the_user(circle, deliver, erasure_report, redis_client):
    alice, bob, carol, *_ = circle.values()
    # Each request refreshed its caller's last-active throttle key.
    assert redis_client.exists(f"hm:user:active:{alice.id}") and redis_client.exists(f"hm:user:active:{bob.id}")
    before = erasure_report(alice.id).json
    assert before["erased"] is False
    assert {table: n for table, n in before["rows"].items() if n and table != "outbox"} == {
        "profiles": 1,
        "privacy_settings": 1,
        "friendships": 2,
        "friend_requests": 2,
        "blocks": 2,
    }
    assert before["rows"]["outbox"] >= 5

    deliver(tasks.on_user_deleted, user_deleted(alice.id))

    after = erasure_report(alice.id).json
    assert after == {
        "user_id": alice.id,
        "erased": True,
        "rows": dict.fromkeys(before["rows"], 0),
        "total": 0,
    }
    assert rows_naming(alice.id) == 0
    assert not redis_client.exists(f"hm:user:active:{alice.id}")
    # Everyone else's rows stay: Bob's profile, and his friendship with Carol.
    assert redis_client.exists(f"hm:user:active:{bob.id}")
    assert db.session.get(Profile, uuid.UUID(bob.id)) is not None
    assert ids(bob.get(f"/api/v1/users/{bob.id}/friends").json["items"]) == [carol.id]
    assert any(e.event_type == "FriendshipAccepted" for e in db.session.execute(select(OutboxEvent)).scalars())


def test_user_deleted_redelivered_acts_once_and_still_purges_keys(circle, deliver, erasure_report, redis_client):
    alice = circle["alice"]
    event = user_deleted(alice.id)
    deliver(tasks.on_user_deleted, event)
    # A key written after the erasure (a request in flight) goes with the redelivery.
    redis_client.set(f"hm:user:active:{alice.id}", 1)
    deliver(tasks.on_user_deleted, event)
    assert not redis_client.exists(f"hm:user:active:{alice.id}")
    assert erasure_report(alice.id).json["total"] == 0
    # A second UserDeleted (another id) for the same user changes nothing either.
    deliver(tasks.on_user_deleted, user_deleted(alice.id))
    assert erasure_report(alice.id).json["erased"] is True


def test_erasure_report_is_for_admins_only(circle, client):
    alice, bob, *_ = circle.values()
    assert bob.get(f"/internal/v1/erasures/{alice.id}").status_code == 403
    assert alice.get(f"/internal/v1/erasures/{alice.id}").status_code == 403
    assert client.get(f"/internal/v1/erasures/{alice.id}").status_code == 401


def test_erasure_report_of_an_unknown_user_is_zero(erasure_report):
    unknown = str(uuid.uuid4())
    body = erasure_report(unknown.upper()).json
    assert body["user_id"] == unknown and body["erased"] is False and body["total"] == 0


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "me", "%27%20OR%201=1"])
def test_erasure_report_rejects_malformed_ids(erasure_report, bad):
    response = erasure_report(bad)
    assert response.status_code == 404 and response.content_type == "application/problem+json"


# ---- in flight --------------------------------------------------------------------------------


def test_a_request_naming_an_erased_user_gets_404_and_creates_nothing(circle, deliver):
    alice, bob, carol, *_ = circle.values()
    deliver(tasks.on_user_deleted, user_deleted(alice.id))
    # The auth service still knows Alice here (its own erasure is not part of this test), so the
    # profile would be rebuilt from it: the guard refuses.
    requests = [
        lambda: carol.post(f"/api/v1/users/{alice.id}/friends"),
        lambda: bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "blocked"}),
        lambda: alice.put("/api/v1/users/me", json={"bio": "back again"}),
    ]
    for send in requests:
        response = send()
        assert response.status_code == 404 and response.json["code"] == "user.deleted"
        # What a request's teardown does outside the test's one long session.
        db.session.rollback()
        assert rows_naming(alice.id) == 0


def test_a_late_user_registered_is_refused_and_creates_nothing(circle, deliver):
    alice = circle["alice"]
    deliver(tasks.on_user_deleted, user_deleted(alice.id))
    late = {
        "id": str(uuid.uuid4()),
        "type": "UserRegistered",
        "data": {"user_id": alice.id, "username": alice.username, "display_name": "Alice"},
    }
    with pytest.raises(Exception) as raised:
        deliver(tasks.on_user_registered, late)
    assert is_erasure_refusal(raised.value)
    db.session.rollback()
    assert db.session.get(Profile, uuid.UUID(alice.id)) is None
    assert USER_DATA.is_erased(db.session, alice.id)
