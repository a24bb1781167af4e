"""The mood service's data rights: the caller's export, erasure on UserDeleted, the admin's
erasure report, and writes in flight that name an erased user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from services.mood import service, tasks
from services.mood.models import (
    USER_DATA,
    ContentBookmark,
    ContentInteraction,
    HugDay,
    MoodEntry,
    OutboxEvent,
    StreakMilestone,
    UserInsight,
    db,
)
from shared.sqlstate import is_erasure_refusal

EXPORT = "/internal/v1/account/export"


def event(kind: str, **data: Any) -> dict[str, Any]:
    """An event as the relay delivers it."""
    return {"id": str(uuid.uuid4()), "type": kind, "occurred_at": datetime.now(UTC).isoformat(), "data": data}


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days, minutes=1)).isoformat()


def outbox(kind: str, user_id: str) -> list[dict[str, Any]]:
    return [
        e.payload
        for e in db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == kind)).scalars()
        if e.payload["data"]["user_id"] == user_id
    ]


def entries_of(user_id: str) -> int:
    query = select(func.count()).select_from(MoodEntry).where(MoodEntry.user_id == uuid.UUID(user_id))
    return db.session.execute(query).scalar_one()


def hug(sender: str, recipient: str) -> dict[str, Any]:
    return event("HugSent", hug_id=str(uuid.uuid4()), sender_id=sender, recipient_id=recipient, type="warm")


@pytest.fixture
def pair(person, deliver):
    """Alice (a three-day streak, its milestone and streak insight, a private entry with a note, a
    public one, a hug sent to Bob and one from him) and her friend Bob (his own private note and
    public entry), each sharing moods with the other."""
    alice, bob = person(), person()
    alice.befriend(bob)
    alice.set_privacy(share_moods_with="friends")
    bob.set_privacy(share_moods_with="friends")
    alice.record(mood="tired", recorded_at=days_ago(2))
    alice.record(mood="hopeful", recorded_at=days_ago(1), is_public=True, tags=["walk"])
    alice.record(mood="anxious", note="alice's secret worry", valence=0.2)
    bob.record(mood="grumpy", note="bob's secret", is_public=False)
    bob.record(mood="cheerful", is_public=True)
    for payload in outbox("MoodRecorded", alice.id):
        deliver(tasks.on_mood_written, payload)
    assert [m["data"]["days"] for m in outbox("StreakMilestone", alice.id)] == [3]
    deliver(tasks.on_hug_sent, hug(alice.id, bob.id))
    deliver(tasks.on_hug_sent, hug(bob.id, alice.id))
    assert tasks.refresh_insights(alice.id)["created"] == 1  # the streak insight
    # Both use the content library: Alice keeps one item and finishes another, Bob keeps one.
    first, second = alice.get("/api/v1/content?limit=2").json["items"]
    for who, item, kind in ((alice, first, "bookmark"), (alice, second, "complete"), (bob, first, "bookmark")):
        assert who.post(f"/api/v1/content/{item['id']}/interactions", json={"type": kind}).status_code == 201
    return alice, bob


# ---- export -----------------------------------------------------------------------------------


def test_export_holds_every_entry_notes_included_milestones_and_streak(pair):
    alice, _bob = pair
    response = alice.get(EXPORT)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {
        "entries",
        "streak_milestones",
        "streak",
        "hug_days",
        "insights",
        "content_interactions",
        "content_bookmarks",
    }
    assert sorted(h["direction"] for h in body["hug_days"]) == ["received", "sent"]
    assert all(set(h) == {"hug_id", "direction", "occurred_at"} for h in body["hug_days"])
    [insight] = body["insights"]
    assert insight["type"] == "streak" and insight["data"]["days"] == 3
    assert [e["mood"] for e in body["entries"]] == ["tired", "hopeful", "anxious"]
    assert [e["is_public"] for e in body["entries"]] == [False, True, False]
    assert body["entries"][2]["note"] == "alice's secret worry" and body["entries"][2]["valence"] == 0.2
    assert body["entries"][1]["tags"] == ["walk"]
    assert {e["user_id"] for e in body["entries"]} == {alice.id}
    assert [(m["days"], m["streak_start"]) for m in body["streak_milestones"]] == [
        (3, (datetime.now(UTC) - timedelta(days=2, minutes=1)).date().isoformat())
    ]
    assert body["streak"]["current_streak"] == 3 and body["streak"]["longest_streak"] == 3
    assert body["streak"]["timezone"] == "UTC"
    first, second = alice.get("/api/v1/content?limit=2").json["items"]
    assert [(i["content_id"], i["type"]) for i in body["content_interactions"]] == [
        (first["id"], "bookmark"),
        (second["id"], "complete"),
    ]
    assert [b["content_id"] for b in body["content_bookmarks"]] == [first["id"]]


def test_export_holds_nothing_of_anyone_else(pair):
    alice, bob = pair
    # Alice may see Bob's public entry, but it is his data, not hers; his private one even less.
    assert bob.id in str(alice.get(f"/api/v1/moods/user/{bob.id}").json)
    flat = str(alice.get(EXPORT).json)
    assert bob.id not in flat and "bob's secret" not in flat and "cheerful" not in flat
    bob_export = bob.get(EXPORT).json
    assert [e["mood"] for e in bob_export["entries"]] == ["grumpy", "cheerful"]
    assert bob_export["streak_milestones"] == [] and "alice's secret worry" not in str(bob_export)
    assert bob_export["insights"] == [] and len(bob_export["hug_days"]) == 2
    # The hug days hold no one else: not the other side of each hug.
    assert alice.id not in str(bob_export["hug_days"])
    assert [i["type"] for i in bob_export["content_interactions"]] == ["bookmark"]
    assert len(bob_export["content_bookmarks"]) == 1


def test_export_needs_a_user_token(client, token_for):
    assert client.get(EXPORT).status_code == 401
    service = client.get(EXPORT, headers={"Authorization": f"Bearer {token_for('service:hug', roles=['service'])}"})
    assert service.status_code == 403


# ---- erasure ----------------------------------------------------------------------------------


def test_user_deleted_erases_entries_milestones_and_cached_audiences(pair, deliver, erasure_report, redis_client):
    alice, bob = pair
    # The audience cache: Alice reading her own and Bob's moods, Bob reading hers, and Bob's own.
    for reader, owner in ((alice, alice), (alice, bob), (bob, alice), (bob, bob)):
        assert reader.get(f"/api/v1/moods/user/{owner.id}").status_code == 200
    assert len(list(redis_client.scan_iter(f"hm:mood:audience:*{alice.id}*"))) == 3
    before = erasure_report(alice.id).json
    assert before["erased"] is False
    assert before["rows"]["mood_entries"] == 3 and before["rows"]["streak_milestones"] == 1
    assert before["rows"]["hug_days"] == 2 and before["rows"]["user_insights"] == 1
    assert before["rows"]["content_interactions"] == 2 and before["rows"]["content_bookmarks"] == 1
    assert before["rows"]["outbox"] == 4  # three MoodRecorded, one StreakMilestone

    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))

    after = erasure_report(alice.id).json
    assert after == {"user_id": alice.id, "erased": True, "rows": dict.fromkeys(before["rows"], 0), "total": 0}
    assert list(redis_client.scan_iter(f"hm:mood:*{alice.id}*")) == []
    # Bob's entries, his hug days, his events and his own cached audience stay.
    assert entries_of(bob.id) == 2 and len(outbox("MoodRecorded", bob.id)) == 2
    assert db.session.execute(select(func.count()).select_from(HugDay)).scalar_one() == 2

    # Bob's entries, his events, his bookmark and his own cached audience stay.
    assert entries_of(bob.id) == 2 and len(outbox("MoodRecorded", bob.id)) == 2
    assert len(bob.get("/api/v1/content/bookmarks").json["items"]) == 1
    assert redis_client.exists(f"hm:mood:audience:{bob.id}:{bob.id}")


def test_user_deleted_redelivered_acts_once_and_still_purges_keys(pair, deliver, erasure_report, redis_client):
    alice, _bob = pair
    deleted = event("UserDeleted", user_id=alice.id)
    deliver(tasks.on_user_deleted, deleted)
    # A key cached after the erasure (a read in flight) goes with the redelivery.
    redis_client.set(f"hm:mood:audience:{alice.id}:{alice.id}", "{}")
    deliver(tasks.on_user_deleted, deleted)
    assert list(redis_client.scan_iter(f"hm:mood:*{alice.id}*")) == []
    assert erasure_report(alice.id).json["total"] == 0


def test_erasure_report_is_for_admins_only(pair, client):
    alice, bob = pair
    assert bob.get(f"/internal/v1/erasures/{alice.id}").status_code == 403
    assert alice.get(f"/internal/v1/erasures/{alice.id}").status_code == 403
    assert client.get(f"/internal/v1/erasures/{alice.id}").status_code == 401


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "me", "%27%20OR%201=1"])
def test_erasure_report_rejects_malformed_ids(erasure_report, bad):
    response = erasure_report(bad)
    assert response.status_code == 404 and response.content_type == "application/problem+json"


# ---- in flight --------------------------------------------------------------------------------


def test_recording_a_mood_after_the_erasure_gets_404_and_creates_nothing(pair, deliver):
    alice, _bob = pair
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    # Her token still verifies here (the auth service's revocation is not part of this test).
    response = alice.post("/api/v1/moods", json={"mood": "calm", "intensity": 0.5, "note": "still here?"})
    assert response.status_code == 404 and response.json["code"] == "user.deleted"
    db.session.rollback()  # what the request's teardown does outside the test's one long session
    assert entries_of(alice.id) == 0 and outbox("MoodRecorded", alice.id) == []


def test_a_late_mood_event_after_the_erasure_creates_nothing(pair, deliver):
    alice, _bob = pair
    recorded = outbox("MoodRecorded", alice.id)
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    for payload in recorded:  # redelivered late, under new ids
        deliver(tasks.on_mood_written, {**payload, "id": str(uuid.uuid4())})
    assert outbox("StreakMilestone", alice.id) == []
    assert db.session.execute(select(func.count()).select_from(StreakMilestone)).scalar_one() == 0


def test_the_guard_refuses_a_milestone_naming_an_erased_user(pair, deliver):
    alice, _bob = pair
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    db.session.add(StreakMilestone(user_id=uuid.UUID(alice.id), days=3, streak_start=datetime.now(UTC).date()))
    with pytest.raises(Exception) as raised:
        db.session.flush()
    assert is_erasure_refusal(raised.value)
    db.session.rollback()
    assert USER_DATA.is_erased(db.session, alice.id)


def test_a_late_hug_keeps_the_living_side_only(pair, deliver):
    alice, bob = pair
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    deliver(tasks.on_hug_sent, hug(bob.id, alice.id))  # in flight when she was erased
    rows = db.session.execute(select(HugDay.user_id, HugDay.direction)).all()
    assert sorted((str(u), d) for u, d in rows) == [(bob.id, "received"), (bob.id, "sent"), (bob.id, "sent")]


def test_the_guard_refuses_an_insight_naming_an_erased_user(pair, deliver):
    alice, _bob = pair
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    db.session.add(
        UserInsight(
            user_id=uuid.UUID(alice.id),
            type="streak",
            finding="late",
            title="t",
            description="d",
            relevance=0.5,
            data={},
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    )


@pytest.mark.parametrize("model", [ContentInteraction, ContentBookmark])
def test_the_guard_refuses_content_rows_naming_an_erased_user(pair, deliver, model):
    alice, _bob = pair
    item = alice.get("/api/v1/content?limit=1").json["items"][0]
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    fields = {"id": uuid.uuid4(), "type": "view"} if model is ContentInteraction else {}
    db.session.add(model(user_id=uuid.UUID(alice.id), content_id=uuid.UUID(item["id"]), **fields))
    with pytest.raises(Exception) as raised:
        db.session.flush()
    assert is_erasure_refusal(raised.value)
    db.session.rollback()


def test_a_refresh_caught_by_the_erasure_writes_nothing_and_is_done(pair, deliver, monkeypatch):
    alice, _bob = pair
    # The refresh read her findings just before the erasure, and writes them just after it.
    found = service.insights.findings(user_id=uuid.UUID(alice.id), timezone="UTC")
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    finding = {
        "factor": "tag:walk",
        "effect": 0.2,
        "mean_with": 0.7,
        "mean_without": 0.5,
        "ci95": [0.1, 0.3],
        "p_value": 0.001,
        "q_value": 0.01,
        "standardized_effect": 1.0,
        "sample_size": {"with": 9, "without": 9},
    }
    monkeypatch.setattr(service.insights, "findings", lambda **_: [*found, finding])
    assert tasks.refresh_insights(alice.id) is None
    assert db.session.execute(select(func.count()).select_from(UserInsight)).scalar_one() == 0


def test_an_interaction_after_the_erasure_gets_404_and_creates_nothing(pair, deliver, erasure_report):
    alice, _bob = pair
    item = alice.get("/api/v1/content?limit=1").json["items"][0]
    deliver(tasks.on_user_deleted, event("UserDeleted", user_id=alice.id))
    response = alice.post(f"/api/v1/content/{item['id']}/interactions", json={"type": "bookmark"})
    assert response.status_code == 404 and response.json["code"] == "user.deleted"
    db.session.rollback()
    assert erasure_report(alice.id).json["total"] == 0


def test_a_mood_event_for_an_account_that_no_longer_exists_is_done(client, deliver):
    gone = str(uuid.uuid4())
    mood_id = str(uuid.uuid4())
    payload = event("MoodRecorded", mood_id=mood_id, user_id=gone, is_public=False, recorded_at=days_ago(0))
    deliver(tasks.on_mood_written, payload)  # no retry: the user service and auth know no such user
    assert outbox("StreakMilestone", gone) == []
