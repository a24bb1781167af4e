"""User and mood rows of the contract, through the gateway, with privacy enforced across services."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.e2e


def test_profile_appears_from_the_registration_event(fleet, people):
    ((alice, session),) = people(1)
    user_id = session["user"]["id"]
    deadline = time.time() + 20
    import psycopg2

    conn = psycopg2.connect(fleet.env["DATABASE_URL"])
    conn.autocommit = True
    try:
        found = None
        while time.time() < deadline and not found:
            with conn.cursor() as cur:
                cur.execute("SELECT username FROM users.profiles WHERE user_id = %s", (user_id,))
                found = cur.fetchone()
            time.sleep(0.2)
        assert found == (session["user"]["username"],)
    finally:
        conn.close()
    assert alice.get("/api/v1/users/me").json()["username"] == session["user"]["username"]


def test_profile_and_privacy_rules_through_the_gateway(people):
    (alice, a), (bob, b) = people(2)
    assert alice.put("/api/v1/users/me", json={"timezone": "Europe/Berlin", "bio": "hi"}).status_code == 200
    assert bob.put(f"/api/v1/users/{a['user']['id']}", json={"bio": "mine now"}).status_code == 403
    assert bob.get(f"/api/v1/users/{a['user']['id']}").json()["bio"] == "hi"
    assert alice.put("/api/v1/users/me", json={"timezone": "Nowhere/City"}).status_code == 422
    assert bob.get(f"/api/v1/users/{a['user']['id']}/privacy").status_code == 403
    bad = alice.put("/api/v1/users/me/privacy", json={"share_moods_with": "everybody"})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"


def test_friendship_flow_and_search(people):
    (alice, a), (bob, b) = people(2)
    a_id, b_id = a["user"]["id"], b["user"]["id"]
    assert alice.post(f"/api/v1/users/{b_id}/friends").status_code == 201
    assert alice.post(f"/api/v1/users/{b_id}/friends").status_code == 409
    assert alice.post(f"/api/v1/users/{a_id}/friends").status_code == 422
    assert bob.put(f"/api/v1/users/me/friends/{a_id}", json={"status": "accepted"}).status_code == 200
    assert [f["user_id"] for f in alice.get("/api/v1/users/me/friends").json()["items"]] == [b_id]
    found = alice.get("/api/v1/users/search", params={"q": b["user"]["username"].upper()}).json()["items"]
    assert [u["user_id"] for u in found] == [b_id]
    bob.put(f"/api/v1/users/me/friends/{a_id}", json={"status": "blocked"})
    assert alice.get("/api/v1/users/search", params={"q": b["user"]["username"]}).json()["items"] == []
    assert alice.get("/api/v1/users/me/friends").json()["items"] == []


def test_mood_privacy_across_services(people):
    (alice, a), (friend, f), (stranger, s) = people(3)
    a_id = a["user"]["id"]
    friend.post(f"/api/v1/users/{a_id}/friends")
    alice.put(f"/api/v1/users/me/friends/{f['user']['id']}", json={"status": "accepted"})
    public = alice.post("/api/v1/moods", json={"mood": "hopeful", "intensity": 0.6, "is_public": True}).json()
    private = alice.post("/api/v1/moods", json={"mood": "scared", "intensity": 0.9, "note": "don't tell"}).json()
    assert friend.get(f"/api/v1/moods/{public['id']}").status_code == 200
    assert friend.get(f"/api/v1/moods/{private['id']}").status_code == 404
    assert stranger.get(f"/api/v1/moods/{public['id']}").status_code == 404
    assert [m["id"] for m in friend.get(f"/api/v1/moods/user/{a_id}").json()["items"]] == [public["id"]]
    assert stranger.get(f"/api/v1/moods/user/{a_id}").json()["items"] == []
    assert friend.get(f"/api/v1/moods/analytics/{a_id}?period=week").json()["count"] == 1
    assert alice.get("/api/v1/moods/analytics/me?period=week").json()["count"] == 2
    assert friend.get(f"/api/v1/moods/streak/{a_id}").json()["current_streak"] == 1
    # Alice stops sharing: within a few seconds her friend sees nothing.
    alice.put("/api/v1/users/me/privacy", json={"share_moods_with": "none"})
    deadline = time.time() + 10
    while friend.get(f"/api/v1/moods/{public['id']}").status_code == 200:
        assert time.time() < deadline
        time.sleep(0.5)
    assert friend.get(f"/api/v1/moods/user/{a_id}").json()["items"] == []


def test_mood_bad_input_through_the_gateway(people):
    ((alice, _),) = people(1)
    assert alice.post("/api/v1/moods", json={"mood": "ok", "intensity": 3}).status_code == 422
    assert (
        alice.post("/api/v1/moods", json={"mood": "ok", "intensity": 0.3, "user_id": str(uuid.uuid4())}).status_code
        == 422
    )
    assert alice.post("/api/v1/moods", data=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400
    assert alice.get("/api/v1/moods/user/me?limit=500").status_code == 422
    assert alice.get("/api/v1/moods/not-an-id").status_code == 404


def test_mood_service_survives_a_user_service_outage_for_the_owner(fleet, people):
    (alice, a), (friend, f) = people(2)
    friend.post(f"/api/v1/users/{a['user']['id']}/friends")
    alice.put(f"/api/v1/users/me/friends/{f['user']['id']}", json={"status": "accepted"})
    entry = alice.post("/api/v1/moods", json={"mood": "steady", "intensity": 0.5, "is_public": True}).json()
    assert alice.get("/api/v1/moods/streak/me").status_code == 200  # caches the owner's time zone
    fleet.stop("user")
    try:
        time.sleep(6)  # past the 5 s freshness of cached privacy answers
        assert alice.post("/api/v1/moods", json={"mood": "steady", "intensity": 0.4}).status_code == 201
        assert alice.get(f"/api/v1/moods/{entry['id']}").status_code == 200
        assert alice.get("/api/v1/moods/streak/me").status_code == 200  # stale time zone is fine for the owner
        refused = friend.get(f"/api/v1/moods/{entry['id']}")
        assert refused.status_code == 503 and refused.headers["Retry-After"]  # fail closed for others
    finally:
        fleet.start("user")
        fleet.wait_healthy(("user",))
    deadline = time.time() + 15
    while friend.get(f"/api/v1/moods/{entry['id']}").status_code != 200:
        assert time.time() < deadline
        time.sleep(0.5)


def test_direct_calls_to_user_and_mood_services_need_a_token(fleet):
    for service, path in (("user", "/api/v1/users/me"), ("mood", "/api/v1/moods/user/me")):
        response = requests.get(fleet.url(service) + path, headers={"X-User-ID": str(uuid.uuid4())}, timeout=5)
        assert response.status_code == 401
