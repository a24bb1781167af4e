"""GET /api/v1/users?ids=: several profiles in one read, each as the single read shows it."""

from __future__ import annotations

import uuid

import pytest

from services.user.schemas import MAX_BATCH_IDS


def test_batch_read_answers_each_profile_in_order_and_lists_unknown_ids(person):
    alice, bob, carol = person(), person(), person()
    unknown = str(uuid.uuid4())
    response = carol.get(f"/api/v1/users?ids={bob.id},{unknown},{alice.id},{bob.id}")
    assert response.status_code == 200, response.json
    items = response.json["items"]
    assert [item["user_id"] for item in items] == [bob.id, alice.id]
    assert items[0] == carol.get(f"/api/v1/users/{bob.id}").json
    assert response.json["missing"] == [unknown]


def test_batch_read_hides_last_active_as_the_single_read_does(person):
    alice, bob = person(), person()
    alice.get("/api/v1/users/me")
    assert alice.put("/api/v1/users/me/privacy", json={"show_online_status": False}).status_code == 200
    [seen_by_bob] = bob.get(f"/api/v1/users?ids={alice.id}").json["items"]
    assert seen_by_bob["last_active"] is None
    assert seen_by_bob == bob.get(f"/api/v1/users/{alice.id}").json
    [seen_by_alice] = alice.get(f"/api/v1/users?ids={alice.id}").json["items"]
    assert seen_by_alice == alice.get("/api/v1/users/me").json


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?ids=",
        "?ids=not-a-uuid",
        f"?ids={uuid.uuid4()},,{uuid.uuid4()}",
        "?ids=" + ",".join(str(uuid.uuid4()) for _ in range(MAX_BATCH_IDS + 1)),
        f"?ids={uuid.uuid4()}&other=1",
    ],
    ids=["no ids", "empty", "malformed", "empty part", "too many", "unknown parameter"],
)
def test_bad_batch_input_is_422(person, query):
    response = person().get(f"/api/v1/users{query}")
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"


def test_batch_read_needs_a_token(client):
    assert client.get(f"/api/v1/users?ids={uuid.uuid4()}").status_code == 401
