"""Social rows of the contract through the gateway, with the friend graph fed by real events."""

from __future__ import annotations

import json

import pytest

from tests.e2e.fleet import wait_for

pytestmark = pytest.mark.e2e
NOTE = "a very private note about the day"


def feed_types(client, path: str = "/api/v1/social/feed") -> list[tuple[str, str]]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return [(item["type"], item["user_id"]) for item in response.json()["items"]]


def test_feed_follows_friendships_and_privacy_across_services(people):
    (alice, a), (bob, b), (carol, _) = people(3)
    a_id, b_id = a["user"]["id"], b["user"]["id"]
    assert alice.post(f"/api/v1/users/{b_id}/friends").status_code == 201
    assert bob.put(f"/api/v1/users/me/friends/{a_id}", json={"status": "accepted"}).status_code == 200
    note = alice.post("/api/v1/social/activities", json={"type": "gratitude", "visibility": "friends"})
    assert note.status_code == 201, note.text
    secret = alice.post("/api/v1/social/activities", json={"type": "journal", "visibility": "private"})
    assert secret.status_code == 201
    # Bob sees Alice's friends-only activity once the friendship event has reached the social service.
    wait_for(lambda: ("gratitude", a_id) in feed_types(bob))
    assert ("journal", a_id) not in feed_types(bob)
    assert ("gratitude", a_id) in feed_types(bob, "/api/v1/social/friends-activity")
    assert ("gratitude", a_id) not in feed_types(carol)
    assert carol.get(f"/api/v1/social/activities/{note.json()['id']}").status_code == 404
    assert bob.delete(f"/api/v1/social/activities/{note.json()['id']}").status_code == 404
    # A public mood becomes an activity her friend sees (visibility follows share_moods_with: friends).
    mood = alice.post("/api/v1/moods", json={"mood": "hopeful", "intensity": 0.7, "is_public": True, "note": NOTE})
    assert mood.status_code == 201
    shared = wait_for(lambda: [i for i in bob.get("/api/v1/social/feed").json()["items"] if i["type"] == "mood_shared"])
    assert NOTE not in json.dumps(shared) and shared[0]["object_id"] == mood.json()["id"]
    # Unfriending removes her friends-only activities from his feed.
    assert alice.delete(f"/api/v1/users/me/friends/{b_id}").status_code == 204
    wait_for(lambda: ("gratitude", a_id) not in feed_types(bob))
    assert alice.post("/api/v1/social/activities", json={"type": "x", "user_id": b_id}).status_code == 422
    assert alice.get("/api/v1/social/feed", params={"limit": 0}).status_code == 422


def test_a_shared_public_mood_opens_without_a_token_until_it_is_made_private(fleet, people):
    from tests.e2e.fleet import Client

    (alice, _), (bob, _) = people(2)
    assert alice.put("/api/v1/users/me/privacy", json={"share_moods_with": "public"}).status_code == 200
    mood = alice.post("/api/v1/moods", json={"mood": "proud", "intensity": 0.8, "is_public": True, "note": NOTE}).json()
    share = alice.post(
        "/api/v1/social/share", json={"content_type": "mood", "content_id": mood["id"], "platform": "web"}
    )
    assert share.status_code == 201, share.text
    assert (
        bob.post(
            "/api/v1/social/share", json={"content_type": "mood", "content_id": mood["id"], "platform": "web"}
        ).status_code
        == 404
    )
    path = "/api/v1/social/shared/" + share.json()["share_url"].rsplit("/", 1)[1]
    anonymous = Client(fleet.gateway, "127.0.6.1")
    view = anonymous.get(path)
    assert view.status_code == 200 and view.json()["mood"] == "proud" and NOTE not in view.text
    assert alice.put(f"/api/v1/moods/{mood['id']}", json={"is_public": False}).status_code == 200
    gone = anonymous.get(path)
    assert gone.status_code == 404 and gone.headers["Content-Type"] == "application/problem+json"
    assert anonymous.get("/api/v1/social/shared/not-a-token").status_code == 404
