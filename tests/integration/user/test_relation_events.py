"""Events the user service publishes when a request closes or a block is lifted (the social copy needs them)."""

from __future__ import annotations

from sqlalchemy import select

from services.user.models import OutboxEvent, db


def events(kind):
    return [
        e.payload["data"]
        for e in db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == kind)).scalars()
    ]


def test_declining_a_request_publishes_friend_request_closed(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    assert bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "declined"}).status_code == 200
    assert events("FriendRequestClosed") == [{"requester_id": alice.id, "addressee_id": bob.id, "reason": "declined"}]


def test_withdrawing_a_request_publishes_friend_request_closed(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    assert alice.delete(f"/api/v1/users/me/friends/{bob.id}").status_code == 204
    assert events("FriendRequestClosed") == [{"requester_id": alice.id, "addressee_id": bob.id, "reason": "withdrawn"}]


def test_unblocking_publishes_user_unblocked(person):
    alice, bob = person(), person()
    alice.put(f"/api/v1/users/me/friends/{bob.id}", json={"status": "blocked"})
    assert events("UserUnblocked") == []
    assert alice.delete(f"/api/v1/users/me/friends/{bob.id}").status_code == 204
    assert events("UserUnblocked") == [{"blocker_id": alice.id, "blocked_id": bob.id}]


def test_accepting_and_unfriending_publish_no_closed_request(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"})
    bob.delete(f"/api/v1/users/me/friends/{alice.id}")
    assert events("FriendRequestClosed") == [] and events("UserUnblocked") == []
