"""Recommendations: the owner's own, for their recent moods, never what they finished."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.mood.models import UserInsight, db

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
    assert response.status_code == 403 and response.json["code"] == "mood.analytics_forbidden"
    for unknown in (str(uuid.uuid4()), "not-a-user"):
        assert bob.get(f"{PATH}/{unknown}").status_code == 404


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "limit=x", "period=week"])
def test_bad_parameters_are_422(person, query):
    response = person().get(f"{PATH}/me?{query}")
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_recommendations_need_a_token(client):
    assert client.get(f"{PATH}/me").status_code == 401


def insight(user_id: str, finding: str, *, expires_in: timedelta = timedelta(days=7)) -> UserInsight:
    return UserInsight(
        user_id=uuid.UUID(user_id),
        type="trigger",
        finding=finding,
        title="t",
        description="d",
        relevance=0.5,
        data={},
        expires_at=datetime.now(UTC) + expires_in,
    )


def test_a_tag_the_owners_insights_say_helped_ranks_its_items_first(person):
    alice, bob = person(), person()
    alice.record(mood="Anxious")
    walking = alice.get("/api/v1/content?tag=walk&limit=50").json["items"]
    assert walking, "the starter catalogue has walking items"
    db.session.add_all(
        [
            insight(alice.id, "tag:walk:+"),
            insight(alice.id, "tag:junk food:-"),  # went with worse days: no boost
            insight(alice.id, "tag:reading:+", expires_in=timedelta(days=-1)),  # the finding expired
            insight(bob.id, "tag:breathing:+"),  # someone else's finding
        ]
    )
    db.session.commit()
    ranked = alice.get(f"{PATH}/me?limit=50").json["items"]
    first = ranked[: len(walking)]
    assert {i["id"] for i in first} == {i["id"] for i in walking}
    assert all("walk" in i["reason"] for i in first)
    assert not any("breathing" in i["reason"] or "reading" in i["reason"] for i in ranked)
