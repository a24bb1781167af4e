"""Mood entries: validation, ownership, the visibility rule, lists and pagination."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.mood.models import OutboxEvent, db


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_record_returns_the_entry(person):
    alice = person()
    body = alice.record(
        mood="hopeful",
        intensity=0.7,
        valence=0.8,
        arousal=0.3,
        note="small wins",
        tags=["work", "work", "sleep"],
        is_public=True,
    )
    assert body["user_id"] == alice.id and body["mood"] == "hopeful" and body["tags"] == ["work", "sleep"]
    assert body["recorded_at"].endswith("Z") and body["is_public"] is True


def test_recorded_at_defaults_to_now_and_backfill_is_allowed(person):
    alice = person()
    before = datetime.now(UTC)
    assert datetime.fromisoformat(alice.record()["recorded_at"]) >= before - timedelta(seconds=1)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert alice.record(recorded_at=iso(yesterday))["recorded_at"] == iso(yesterday)


def test_mood_recorded_event_carries_ids_only(person):
    alice = person()
    entry = alice.record(note="a very private thought", mood="lonely")
    payloads = [
        e.payload
        for e in db.session.execute(select(OutboxEvent)).scalars()
        if e.payload["data"].get("mood_id") == entry["id"]
    ]
    assert len(payloads) == 1 and payloads[0]["type"] == "MoodRecorded"
    assert set(payloads[0]["data"]) == {"mood_id", "user_id", "is_public", "recorded_at"}
    assert "private thought" not in str(payloads) and "lonely" not in str(payloads)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"intensity": 0.5}, "mood"),
        ({"mood": "calm"}, "intensity"),
        ({"mood": "", "intensity": 0.5}, "mood"),
        ({"mood": "   ", "intensity": 0.5}, "mood"),
        ({"mood": "x" * 51, "intensity": 0.5}, "mood"),
        ({"mood": "calm", "intensity": 1.5}, "intensity"),
        ({"mood": "calm", "intensity": -0.1}, "intensity"),
        ({"mood": "calm", "intensity": True}, "intensity"),
        ({"mood": "calm", "intensity": "0.5"}, "intensity"),
        ({"mood": "calm", "intensity": 0.5, "valence": 2}, "valence"),
        ({"mood": "calm", "intensity": 0.5, "arousal": -1}, "arousal"),
        ({"mood": "calm", "intensity": 0.5, "note": "x" * 2001}, "note"),
        ({"mood": "calm", "intensity": 0.5, "tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"mood": "calm", "intensity": 0.5, "tags": ["x" * 51]}, "tags"),
        ({"mood": "calm", "intensity": 0.5, "tags": "work"}, "tags"),
        ({"mood": "calm", "intensity": 0.5, "is_public": "yes"}, "is_public"),
        ({"mood": "calm", "intensity": 0.5, "recorded_at": "2999-01-01T00:00:00Z"}, "recorded_at"),
        ({"mood": "calm", "intensity": 0.5, "recorded_at": "yesterday"}, "recorded_at"),
        ({"mood": "calm", "intensity": 0.5, "user_id": str(uuid.uuid4())}, "user_id"),
        ({"mood": "calm", "intensity": 0.5, "id": str(uuid.uuid4())}, "id"),
    ],
)
def test_bad_entry_gets_422_with_field_errors(person, body, field):
    response = person().post("/api/v1/moods", json=body)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert field in response.json["errors"]


def test_validation_errors_never_echo_the_note(person):
    secret = "my therapist said " + "x" * 2000
    response = person().post("/api/v1/moods", json={"mood": "sad", "intensity": 0.5, "note": secret})
    assert response.status_code == 422 and "therapist" not in response.get_data(as_text=True)


def test_the_note_never_appears_in_log_lines(person, caplog):
    alice = person()
    with caplog.at_level(logging.DEBUG):
        entry = alice.record(note="note-text-that-must-stay-private")
        alice.put(f"/api/v1/moods/{entry['id']}", json={"note": "second-private-note"})
        alice.get(f"/api/v1/moods/{entry['id']}")
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "request" in logged
    assert "note-text-that-must-stay-private" not in logged and "second-private-note" not in logged


def test_bad_json_and_media_type(person):
    alice = person()
    assert alice.post("/api/v1/moods", data=b"{", content_type="application/json").status_code == 400
    assert alice.post("/api/v1/moods", data=b"mood=calm", content_type="text/plain").status_code == 415


def test_owner_reads_updates_and_deletes(person):
    alice = person()
    entry = alice.record(mood="tired")
    assert alice.get(f"/api/v1/moods/{entry['id']}").json["mood"] == "tired"
    changed = alice.put(f"/api/v1/moods/{entry['id']}", json={"mood": "rested", "tags": ["nap"]})
    assert changed.status_code == 200 and changed.json["mood"] == "rested" and changed.json["tags"] == ["nap"]
    assert changed.json["intensity"] == 0.5
    assert alice.delete(f"/api/v1/moods/{entry['id']}").status_code == 204
    assert alice.get(f"/api/v1/moods/{entry['id']}").status_code == 404


@pytest.mark.parametrize("body", [{}, {"intensity": 7}, {"user_id": str(uuid.uuid4())}, {"recorded_at": "2999-01-01"}])
def test_update_bad_input_gets_422(person, body):
    alice = person()
    entry = alice.record()
    assert alice.put(f"/api/v1/moods/{entry['id']}", json=body).status_code == 422


@pytest.mark.parametrize("mood_id", [str(uuid.UUID(int=1)), "not-a-uuid"])
def test_unknown_or_malformed_id_gets_404(person, mood_id):
    alice = person()
    assert alice.get(f"/api/v1/moods/{mood_id}").status_code == 404
    assert alice.put(f"/api/v1/moods/{mood_id}", json={"mood": "x"}).status_code == 404
    assert alice.delete(f"/api/v1/moods/{mood_id}").status_code == 404


def test_other_user_gets_404_for_private_mood(person):
    alice, bob = person(), person()
    alice.befriend(bob)
    entry = alice.record(is_public=False, note="only mine")
    for response in (
        bob.get(f"/api/v1/moods/{entry['id']}"),
        bob.put(f"/api/v1/moods/{entry['id']}", json={"mood": "x"}),
        bob.delete(f"/api/v1/moods/{entry['id']}"),
    ):
        assert response.status_code == 404
        assert "only mine" not in response.get_data(as_text=True)
    assert alice.get(f"/api/v1/moods/{entry['id']}").status_code == 200


def test_public_mood_with_default_friends_sharing(person):
    alice, friend, stranger = person(), person(), person()
    alice.befriend(friend)
    entry = alice.record(is_public=True)
    assert friend.get(f"/api/v1/moods/{entry['id']}").status_code == 200
    assert stranger.get(f"/api/v1/moods/{entry['id']}").status_code == 404


def test_a_visible_mood_still_cannot_be_changed_by_others(person):
    alice, friend = person(), person()
    alice.befriend(friend)
    entry = alice.record(is_public=True)
    assert friend.put(f"/api/v1/moods/{entry['id']}", json={"mood": "hijacked"}).status_code == 403
    assert friend.delete(f"/api/v1/moods/{entry['id']}").status_code == 403
    assert alice.get(f"/api/v1/moods/{entry['id']}").json["mood"] == "calm"


def test_share_public_admits_anyone_and_none_admits_nobody(person):
    alice, stranger, friend = person(), person(), person()
    alice.befriend(friend)
    alice.set_privacy(share_moods_with="public")
    public_entry = alice.record(is_public=True)
    assert stranger.get(f"/api/v1/moods/{public_entry['id']}").status_code == 200
    bob = person()
    bob.befriend(friend)
    bob.set_privacy(share_moods_with="none")
    hidden = bob.record(is_public=True)
    assert friend.get(f"/api/v1/moods/{hidden['id']}").status_code == 404


def test_blocks_hide_everything(person):
    alice, bob = person(), person()
    alice.set_privacy(share_moods_with="public")
    bob.users("PUT", f"/api/v1/users/me/friends/{alice.id}", json={"status": "blocked"})
    entry = alice.record(is_public=True)
    assert bob.get(f"/api/v1/moods/{entry['id']}").status_code == 404
    assert bob.get(f"/api/v1/moods/user/{alice.id}").json["items"] == []


@pytest.mark.parametrize("change", ["privacy", "block", "unfriend"])
def test_a_privacy_change_a_block_or_an_unfriending_applies_to_the_next_read(person, change):
    alice, friend = person(), person()
    alice.befriend(friend)
    alice.set_privacy(share_moods_with="friends")
    entry = alice.record(is_public=True)
    # Read once: the admission is what a cache would keep.
    assert friend.get(f"/api/v1/moods/{entry['id']}").status_code == 200
    assert [e["id"] for e in friend.get(f"/api/v1/moods/user/{alice.id}").json["items"]] == [entry["id"]]
    if change == "privacy":
        alice.set_privacy(share_moods_with="none")
    elif change == "block":
        alice.users("PUT", f"/api/v1/users/me/friends/{friend.id}", json={"status": "blocked"})
    else:
        alice.users("DELETE", f"/api/v1/users/me/friends/{friend.id}")
    assert friend.get(f"/api/v1/moods/{entry['id']}").status_code == 404
    assert friend.get(f"/api/v1/moods/user/{alice.id}").json["items"] == []


def test_list_newest_first_with_filters(person):
    alice = person()
    now = datetime.now(UTC)
    old = alice.record(mood="sad", tags=["rain"], recorded_at=iso(now - timedelta(days=3)))
    mid = alice.record(mood="calm", tags=["tea", "rain"], recorded_at=iso(now - timedelta(days=2)))
    new = alice.record(mood="calm", tags=["walk"], recorded_at=iso(now - timedelta(days=1)))
    ids = lambda r: [e["id"] for e in r.json["items"]]  # noqa: E731
    assert ids(alice.get("/api/v1/moods/user/me")) == [new["id"], mid["id"], old["id"]]
    assert ids(alice.get("/api/v1/moods/user/me?mood=calm")) == [new["id"], mid["id"]]
    assert ids(alice.get("/api/v1/moods/user/me?tag=rain")) == [mid["id"], old["id"]]
    since = iso(now - timedelta(days=2, hours=1)).replace("+", "%2B")
    until = iso(now - timedelta(hours=36)).replace("+", "%2B")
    assert ids(alice.get(f"/api/v1/moods/user/me?from={since}&to={until}")) == [mid["id"]]


def test_non_owner_lists_only_visible_entries(person):
    alice, friend, stranger = person(), person(), person()
    alice.befriend(friend)
    public = alice.record(is_public=True)
    alice.record(is_public=False)
    assert [e["id"] for e in friend.get(f"/api/v1/moods/user/{alice.id}").json["items"]] == [public["id"]]
    assert stranger.get(f"/api/v1/moods/user/{alice.id}").json["items"] == []


def test_pagination_is_stable_while_rows_are_inserted(person):
    alice = person()
    now = datetime.now(UTC)
    created = [alice.record(recorded_at=iso(now - timedelta(hours=i)))["id"] for i in range(1, 8)]
    page = alice.get("/api/v1/moods/user/me?limit=3").json
    seen = [e["id"] for e in page["items"]]
    alice.record()  # newer than everything: must not shift later pages
    alice.record(recorded_at=iso(now - timedelta(minutes=30)))
    while page["next_cursor"]:
        page = alice.get(f"/api/v1/moods/user/me?limit=3&cursor={page['next_cursor']}").json
        seen += [e["id"] for e in page["items"]]
    assert seen == created


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?cursor=abc",
        "?from=yesterday",
        "?mood=" + "x" * 51,
        "?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "?sort=asc",
    ],
)
def test_list_bad_query_gets_422(person, query):
    assert person().get(f"/api/v1/moods/user/me{query}").status_code == 422


@pytest.mark.parametrize("user_id", [str(uuid.UUID(int=5)), "not-a-uuid"])
def test_list_for_unknown_user_gets_404(person, user_id):
    assert person().get(f"/api/v1/moods/user/{user_id}").status_code == 404
