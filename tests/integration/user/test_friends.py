"""Friend requests, answers, blocks, lists and search, tried by the right and the wrong user."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select

from services.user.models import OutboxEvent, db


def friends_of(person, who="me", status=None):
    query = f"?status={status}" if status else ""
    response = person.get(f"/api/v1/users/{who}/friends{query}")
    assert response.status_code == 200, response.json
    return response.json["items"]


def events(kind):
    return [
        e.payload["data"]
        for e in db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == kind)).scalars()
    ]


def test_request_then_accept(person):
    alice, bob = person(), person()
    asked = alice.post(f"/api/v1/users/{bob.id}/friends")
    assert asked.status_code == 201 and asked.json == {"user_id": bob.id, "status": "pending"}
    assert {"requester_id": alice.id, "addressee_id": bob.id} in events("FriendRequested")
    pending = friends_of(bob, status="pending")
    assert [(p["user_id"], p["direction"]) for p in pending] == [(alice.id, "incoming")]
    assert [(p["user_id"], p["direction"]) for p in friends_of(alice, status="pending")] == [(bob.id, "outgoing")]
    answered = bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"})
    assert answered.status_code == 200 and answered.json["status"] == "accepted"
    assert [f["user_id"] for f in friends_of(alice)] == [bob.id]
    assert [f["user_id"] for f in friends_of(bob)] == [alice.id]
    assert friends_of(bob, status="pending") == []
    assert {"user_id": alice.id, "friend_id": bob.id} in events("FriendshipAccepted")


def test_crossing_requests_become_a_friendship(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    crossing = bob.post(f"/api/v1/users/{alice.id}/friends")
    assert crossing.status_code == 200 and crossing.json["status"] == "accepted"
    assert [f["user_id"] for f in friends_of(alice)] == [bob.id]


def test_second_request_and_request_between_friends_get_409(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    assert alice.post(f"/api/v1/users/{bob.id}/friends").status_code == 409
    bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"})
    assert alice.post(f"/api/v1/users/{bob.id}/friends").status_code == 409
    assert bob.post(f"/api/v1/users/{alice.id}/friends").status_code == 409


def test_request_to_oneself_gets_422(person):
    alice = person()
    assert alice.post(f"/api/v1/users/{alice.id}/friends").status_code == 422
    assert alice.post("/api/v1/users/me/friends").status_code == 422


def test_closed_requests_and_blocks_get_403(person):
    alice, bob, carol = person(), person(), person()
    bob.put("/api/v1/users/me/privacy", json={"allow_friend_requests": False})
    assert alice.post(f"/api/v1/users/{bob.id}/friends").status_code == 403
    carol.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "blocked"})
    refused = alice.post(f"/api/v1/users/{carol.id}/friends")
    assert refused.status_code == 403 and refused.json["code"] == "user.blocked"


def test_request_to_unknown_user_gets_404(person):
    assert person().post(f"/api/v1/users/{uuid.uuid4()}/friends").status_code == 404


def test_decline_removes_the_request(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    assert bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "declined"}).status_code == 200
    assert friends_of(bob, status="pending") == [] and friends_of(alice) == []
    assert bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"}).status_code == 404


def test_only_the_addressee_can_accept(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    assert alice.put(f"/api/v1/users/me/friends/{bob.id}", json={"status": "accepted"}).status_code == 404
    assert friends_of(alice) == []


def test_answering_for_someone_else_is_forbidden(person):
    alice, bob, mallory = person(), person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    response = mallory.put(f"/api/v1/users/{bob.id}/friends/{alice.id}", json={"status": "accepted"})
    assert response.status_code == 403
    assert mallory.delete(f"/api/v1/users/{bob.id}/friends/{alice.id}").status_code == 403
    assert friends_of(bob, status="pending")[0]["user_id"] == alice.id


def test_block_ends_friendship_and_requests_and_unblock_via_delete(person):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"})
    assert alice.put(f"/api/v1/users/me/friends/{bob.id}", json={"status": "blocked"}).json["status"] == "blocked"
    assert friends_of(alice) == [] and friends_of(bob) == []
    assert [b["user_id"] for b in friends_of(alice, status="blocked")] == [bob.id]
    assert {"user_id": alice.id, "other_id": bob.id, "reason": "blocked"} in events("FriendshipEnded")
    assert alice.delete(f"/api/v1/users/me/friends/{bob.id}").status_code == 204
    assert friends_of(alice, status="blocked") == []


def test_delete_unfriends_and_withdraws(person):
    alice, bob, carol = person(), person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"})
    assert bob.delete(f"/api/v1/users/me/friends/{alice.id}").status_code == 204
    assert friends_of(alice) == []
    alice.post(f"/api/v1/users/{carol.id}/friends")
    assert alice.delete(f"/api/v1/users/me/friends/{carol.id}").status_code == 204
    assert friends_of(carol, status="pending") == []
    assert alice.delete(f"/api/v1/users/me/friends/{carol.id}").status_code == 404


def test_pending_and_blocked_lists_are_owner_only(person):
    alice, bob = person(), person()
    assert bob.get(f"/api/v1/users/{alice.id}/friends?status=pending").status_code == 403
    assert bob.get(f"/api/v1/users/{alice.id}/friends?status=blocked").status_code == 403
    assert bob.get(f"/api/v1/users/{alice.id}/friends").status_code == 200


@pytest.mark.parametrize(
    "query", ["?status=friends", "?limit=0", "?limit=101", "?limit=abc", "?cursor=%%%", "?unknown=1"]
)
def test_friends_list_bad_query_gets_422(person, query):
    assert person().get(f"/api/v1/users/me/friends{query}").status_code == 422


@pytest.mark.parametrize("body", [{}, {"status": "pending"}, {"status": "ACCEPTED"}, {"status": "accepted", "x": 1}])
def test_answer_bad_body_gets_422(person, body):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    assert bob.put(f"/api/v1/users/me/friends/{alice.id}", json=body).status_code == 422


def test_friend_request_body_must_be_empty(person):
    alice, bob = person(), person()
    assert alice.post(f"/api/v1/users/{bob.id}/friends", json={"user_id": alice.id}).status_code == 422


def test_friends_list_paginates_newest_first(person):
    alice = person()
    others = [person() for _ in range(5)]
    for other in others:
        other.post(f"/api/v1/users/{alice.id}/friends")
        alice.put(f"/api/v1/users/me/friends/{other.id}", json={"status": "accepted"})
    first = alice.get("/api/v1/users/me/friends?limit=2").json
    late = person()
    late.post(f"/api/v1/users/{alice.id}/friends")
    alice.put(f"/api/v1/users/me/friends/{late.id}", json={"status": "accepted"})
    seen = [f["user_id"] for f in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = alice.get(f"/api/v1/users/me/friends?limit=2&cursor={cursor}").json
        seen += [f["user_id"] for f in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))  # no duplicates
    assert {o.id for o in others} <= set(seen)  # no gaps (the newcomer may or may not show)


def test_search_is_case_insensitive_on_username_and_display_name(person):
    suffix = uuid.uuid4().hex[:6]
    alice = person(f"Sunny_{suffix}")
    bob = person()
    bob.put("/api/v1/users/me", json={"display_name": f"Moonlight {suffix}"})
    alice.get("/api/v1/users/me")
    found = alice.get(f"/api/v1/users/search?q=SUNNY_{suffix}").json["items"]
    assert [u["user_id"] for u in found] == [alice.id]
    found = alice.get(f"/api/v1/users/search?q=moonLIGHT {suffix}").json["items"]
    assert [u["user_id"] for u in found] == [bob.id]


def test_search_never_lists_someone_who_blocked_the_caller(person):
    suffix = uuid.uuid4().hex[:6]
    alice, bob = person(f"hidden_{suffix}"), person()
    alice.get("/api/v1/users/me")
    assert len(bob.get(f"/api/v1/users/search?q=hidden_{suffix}").json["items"]) == 1
    alice.put(f"/api/v1/users/me/friends/{bob.id}", json={"status": "blocked"})
    assert bob.get(f"/api/v1/users/search?q=hidden_{suffix}").json["items"] == []


@pytest.mark.parametrize("q", ["%", "%%", "'", "\\", "%'; DROP TABLE users.profiles; --"])
def test_search_matches_wildcards_and_quotes_literally(person, q):
    alice = person()
    alice.get("/api/v1/users/me")
    response = alice.get("/api/v1/users/search", query_string={"q": q})
    assert response.status_code == 200 and response.json["items"] == []


def test_search_underscore_is_literal_not_any_character(person):
    suffix = uuid.uuid4().hex[:6]
    target = person(f"ab_{suffix}")
    decoy = person(f"abx{suffix}")
    target.get("/api/v1/users/me")
    decoy.get("/api/v1/users/me")
    found = target.get(f"/api/v1/users/search?q=ab_{suffix}").json["items"]
    assert [u["user_id"] for u in found] == [target.id]


@pytest.mark.parametrize("query", ["", "?q=", "?q=" + "x" * 101, "?q=a&limit=0", "?q=a&extra=1"])
def test_search_bad_query_gets_422(person, query):
    assert person().get(f"/api/v1/users/search{query}").status_code == 422


def test_audience_is_for_services_only(person, client, service_token):
    alice, bob = person(), person()
    alice.post(f"/api/v1/users/{bob.id}/friends")
    bob.put(f"/api/v1/users/me/friends/{alice.id}", json={"status": "accepted"})
    path = f"/internal/v1/users/{alice.id}/audience/{bob.id}"
    assert bob.get(path).status_code == 403
    body = client.get(path, headers={"Authorization": f"Bearer {service_token('mood')}"}).json
    assert body["friends"] is True and body["blocked"] is False and body["share_moods_with"] == "friends"
    assert body["timezone"] == "UTC" and body["allow_hugs_from"] == "friends"
    alice.put(f"/api/v1/users/me/friends/{bob.id}", json={"status": "blocked"})
    body = client.get(path, headers={"Authorization": f"Bearer {service_token('mood')}"}).json
    assert body["friends"] is False and body["blocked"] is True
    assert (
        client.get(
            f"/internal/v1/users/{uuid.uuid4()}/audience/{bob.id}",
            headers={"Authorization": f"Bearer {service_token('mood')}"},
        ).status_code
        == 404
    )


def test_concurrent_crossing_requests_end_as_one_friendship(user_app, make_user, redis_client):
    """Two real transactions racing: the pair lock makes them one friendship, never two requests."""
    (a_id, a_token, _), (b_id, b_token, _) = make_user(), make_user()
    results = []

    def ask(token, target):
        with user_app.test_client() as c:
            results.append(
                c.post(f"/api/v1/users/{target}/friends", headers={"Authorization": f"Bearer {token}"}).json["status"]
            )

    threads = [threading.Thread(target=ask, args=(a_token, b_id)), threading.Thread(target=ask, args=(b_token, a_id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["accepted", "pending"]
    with user_app.test_client() as c:
        friends = c.get("/api/v1/users/me/friends", headers={"Authorization": f"Bearer {a_token}"}).json["items"]
        assert [f["user_id"] for f in friends] == [b_id]
        c.delete(f"/api/v1/users/me/friends/{b_id}", headers={"Authorization": f"Bearer {a_token}"})
