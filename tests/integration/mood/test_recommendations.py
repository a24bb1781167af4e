"""Recommendations: the owner's own, for their recent moods, never what they finished."""

from __future__ import annotations

import uuid

import pytest

PATH = "/api/v1/analytics/recommendations"


def test_recommendations_suit_recent_moods_and_skip_finished_items(person):
    alice = person()
    alice.record(mood="Anxious")
    found = alice.get(f"{PATH}/me?limit=50").json
    assert found["items"] and found["next_cursor"] is None
    assert all("anxious" in i["related_moods"] and "anxious" in i["reason"] for i in found["items"])
    done, dismissed, kept = found["items"][:3]
    alice.post(f"/api/v1/content/{done['id']}/interactions", json={"type": "complete"})
    alice.post(f"/api/v1/content/{dismissed['id']}/interactions", json={"type": "dismiss"})
    alice.post(f"/api/v1/content/{kept['id']}/interactions", json={"type": "view"})
    again = {i["id"] for i in alice.get(f"{PATH}/{alice.id}?limit=50").json["items"]}
    assert kept["id"] in again and not {done["id"], dismissed["id"]} & again
    assert len(again) == len(found["items"]) - 2


def test_no_recent_moods_no_recommendations(person):
    assert person().get(f"{PATH}/me").json["items"] == []


def test_another_user_gets_403_and_an_unknown_one_404(person):
    alice, bob = person(), person()
    alice.befriend(bob)
    alice.record(mood="low", is_public=True)
    response = bob.get(f"{PATH}/{alice.id}")
    assert response.status_code == 403 and response.json["code"] == "analytics.forbidden"
    for unknown in (str(uuid.uuid4()), "not-a-user"):
        assert bob.get(f"{PATH}/{unknown}").status_code == 404


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "limit=x", "period=week"])
def test_bad_parameters_are_422(person, query):
    response = person().get(f"{PATH}/me?{query}")
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_recommendations_need_a_token(client):
    assert client.get(f"{PATH}/me").status_code == 401
