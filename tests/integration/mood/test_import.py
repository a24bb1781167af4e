"""Mood import: Daylio and generic CSV, dry runs, idempotent re-import, per-row rejections, and
files that are refused whole."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.mood import tasks
from services.mood.models import MoodEntry, OutboxEvent, db
from services.mood.service.importer import MAX_ROWS

IMPORT = "/api/v1/moods/import"
DAYLIO_HEADER = "full_date,date,weekday,time,mood,activities,note_title,note\n"
DAYLIO = (
    DAYLIO_HEADER
    + '2026-03-02,March 2,Monday,8:30 PM,rad,walk | friends,Lovely,"A long walk, then dinner"\n'
    + "2026-03-01,March 1,Sunday,09:15,awful,,,\n"
    + '2026-02-28,February 28,Saturday,7:00 AM,meh,work,,"=HYPERLINK(""http://evil.example"",""x"")"\n'
)


def multipart(data: bytes, name: str = "export.csv", field: str = "file") -> bytes:
    """A multipart/form-data body (boundary BOUNDARY) of one file. Built here because the test
    client spools big bodies to a temporary file it never closes."""
    head = f'--BOUNDARY\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
    return (head + "Content-Type: text/csv\r\n\r\n").encode() + data + b"\r\n--BOUNDARY--\r\n"


def upload(who, text: str | bytes, query: str = ""):
    data = text.encode() if isinstance(text, str) else text
    return who.post(IMPORT + query, data=multipart(data), content_type="multipart/form-data; boundary=BOUNDARY")


def entries_of(user_id: str) -> list[MoodEntry]:
    query = select(MoodEntry).where(MoodEntry.user_id == uuid.UUID(user_id)).order_by(MoodEntry.recorded_at)
    return list(db.session.execute(query).scalars())


def import_events(user_id: str) -> list[dict]:
    query = select(OutboxEvent).where(
        OutboxEvent.event_type == "MoodsImported", OutboxEvent.payload["data"]["user_id"].astext == user_id
    )
    return [event.payload for event in db.session.execute(query).scalars()]


def test_a_daylio_export_becomes_entries_in_the_owners_time_zone(person):
    alice = person()
    alice.set_timezone("Europe/Berlin")
    response = upload(alice, DAYLIO)
    assert response.status_code == 200, response.json
    assert response.json == {
        "format": "daylio",
        "dry_run": False,
        "rows": 3,
        "created": 3,
        "skipped_duplicates": 0,
        "rejected": 0,
        "rejections": [],
    }
    meh, awful, rad = entries_of(alice.id)
    assert (rad.mood, rad.valence, rad.intensity, rad.tags) == ("great", 1.0, 0.9, ["walk", "friends"])
    assert rad.note == "Lovely\n\nA long walk, then dinner" and not rad.is_public
    assert rad.recorded_at == datetime(2026, 3, 2, 19, 30, tzinfo=UTC)  # 20:30 in Berlin
    assert (awful.mood, awful.valence, awful.tags, awful.note) == ("awful", 0.0, [], None)
    assert (meh.mood, meh.valence, meh.intensity) == ("okay", 0.5, 0.3)
    # A formula is only text: stored as written, and the export (JSON) gives it back as written.
    assert meh.note == '=HYPERLINK("http://evil.example","x")'
    export = alice.get("/internal/v1/account/export")
    assert export.content_type == "application/json"
    assert [e["note"] for e in export.json["entries"]][0] == meh.note
    # One event for the batch, with ids and times only (never a label or a note).
    (imported,) = import_events(alice.id)
    assert imported["data"] == {
        "user_id": alice.id,
        "count": 3,
        "first_recorded_at": meh.recorded_at.isoformat(),
        "last_recorded_at": rad.recorded_at.isoformat(),
    }


def test_importing_the_same_file_again_creates_nothing(person):
    alice = person()
    assert upload(alice, DAYLIO).json["created"] == 3
    again = upload(alice, DAYLIO).json
    assert (again["created"], again["skipped_duplicates"], again["rejected"]) == (0, 3, 0)
    assert len(entries_of(alice.id)) == 3 and len(import_events(alice.id)) == 1
    # The same rows for another user are theirs to import.
    bob = person()
    assert upload(bob, DAYLIO).json["created"] == 3


def test_a_dry_run_reports_and_writes_nothing(person):
    alice = person()
    assert upload(alice, DAYLIO, "?dry_run=true").json["created"] == 3
    assert entries_of(alice.id) == [] and import_events(alice.id) == []
    upload(alice, DAYLIO.splitlines(keepends=True)[0] + DAYLIO.splitlines(keepends=True)[1])
    dry = upload(alice, DAYLIO, "?dry_run=true").json
    assert (dry["dry_run"], dry["created"], dry["skipped_duplicates"]) == (True, 2, 1)
    assert len(entries_of(alice.id)) == 1


def test_bad_rows_are_rejected_with_their_line_numbers_and_the_rest_imported(person):
    alice = person()
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    text = (
        DAYLIO_HEADER
        + "2026-03-02,,,8:30 PM,good,,,fine\n"
        + "2026-02-31,,,8:30 PM,good,,,bad date\n"
        + "2026-03-03,,,25:99,good,,,bad time\n"
        + f"{future},,,8:30 PM,good,,,future\n"
        + "2026-03-04,,,8:30 PM,good\n"
        + "\n"
        + '2026-03-05,,,8:30 PM,good,,,"two\nlines"\n'
        + "2026-03-06,,,8:30 PM,good,,,"
        + "x" * 2001
        + "\n"
    )
    body = upload(alice, text).json
    assert (body["rows"], body["created"], body["rejected"]) == (7, 2, 5)
    assert [r["line"] for r in body["rejections"]] == [3, 4, 5, 6, 10]
    reasons = " ".join(r["reason"] for r in body["rejections"])
    assert "full_date" in reasons and "time" in reasons and "future" in reasons and "cells" in reasons
    assert [e.note for e in entries_of(alice.id)] == ["fine", "two\nlines"]


def test_the_generic_columns_import_with_their_own_values(person):
    alice = person()
    text = (
        "recorded_at,mood,intensity,valence,tags,note\n"
        "2026-01-10T08:00:00Z,calm,0.4,0.7,walk|tea,Morning\n"
        "2026-01-11T08:00:00+02:00,tense,0.8,,,\n"
        "2026-01-12T08:00:00Z,calm,lots,0.7,,\n"
        "2026-01-13T08:00:00Z,calm,,0.7,,\n"
        "2026-01-14T08:00:00Z,calm,0.5,1.5,,\n"
        "yesterday,calm,0.5,0.5,,\n"
    )
    body = upload(alice, text).json
    assert (body["format"], body["created"], body["rejected"]) == ("generic", 2, 4)
    assert [r["line"] for r in body["rejections"]] == [4, 5, 6, 7]
    calm, tense = entries_of(alice.id)
    assert (calm.mood, calm.intensity, calm.valence, calm.tags, calm.note) == (
        "calm",
        0.4,
        0.7,
        ["walk", "tea"],
        "Morning",
    )
    assert tense.recorded_at == datetime(2026, 1, 11, 6, tzinfo=UTC) and tense.valence is None


def test_imported_entries_count_for_the_streak_and_its_milestones(person, deliver):
    alice = person()
    today = datetime.now(UTC).date()
    rows = "".join(f"{today - timedelta(days=d)},,,00:01,good,,,\n" for d in range(4))
    assert upload(alice, DAYLIO_HEADER + rows).json["created"] == 4
    assert alice.get(f"/api/v1/moods/streak/{alice.id}").json["current_streak"] == 4
    (imported,) = import_events(alice.id)
    deliver(tasks.on_mood_written, imported)
    milestones = select(OutboxEvent).where(OutboxEvent.event_type == "StreakMilestone")
    days = [e.payload["data"]["days"] for e in db.session.execute(milestones).scalars()]
    assert days == [3]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("name,feeling\nsam,happy\n", "mood.import_invalid"),
        ("", "mood.import_invalid"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd", "mood.import_invalid"),
        (DAYLIO_HEADER + '2026-03-02,,,8:30 PM,good,,,"unclosed\n', "mood.import_invalid"),
    ],
)
def test_a_file_that_is_not_an_export_is_refused_whole(person, content, code):
    alice = person()
    response = upload(alice, content)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert response.json["code"] == code and response.json["errors"]["file"]
    assert entries_of(alice.id) == []


def test_more_than_the_row_limit_is_refused_and_nothing_is_created(person):
    alice = person()
    rows = "2026-03-02,,,8:30 PM,good,,,\n" * (MAX_ROWS + 1)
    response = upload(alice, DAYLIO_HEADER + rows)
    assert response.status_code == 422 and response.json["code"] == "mood.import_too_many_rows"
    assert entries_of(alice.id) == []


def test_the_upload_must_be_a_multipart_file_of_bounded_size(person):
    alice = person()
    assert alice.post(IMPORT, json={"file": "x"}).status_code == 415
    missing = alice.post(IMPORT, data={"other": "x"}, content_type="multipart/form-data")
    assert missing.status_code == 422 and missing.json["errors"]["file"]
    big = alice.client.post(  # a 50 MB file, refused by its declared length before it is read
        IMPORT,
        data=b"x" * 10,
        headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=b"},
        environ_overrides={"CONTENT_LENGTH": str(50 * 1024 * 1024)},
    )
    assert big.status_code == 413 and big.content_type == "application/problem+json"
    assert upload(alice, DAYLIO, "?dry_run=maybe").status_code == 422
    assert upload(alice, DAYLIO, "?colour=red").status_code == 422


def test_a_body_longer_than_the_limit_is_413_even_when_undeclared(person):
    alice = person()
    huge = DAYLIO_HEADER + ("2026-03-02,,,8:30 PM,good,,," + "x" * 1000 + "\n") * 9000
    response = upload(alice, huge)
    assert response.status_code == 413 and entries_of(alice.id) == []


def test_import_needs_a_user(client, token_for):
    assert client.post(IMPORT, data={"file": (io.BytesIO(b"x"), "a.csv")}).status_code == 401
    service = {"Authorization": f"Bearer {token_for('service:hug', roles=['service'])}"}
    response = client.post(IMPORT, headers=service, data={"file": (io.BytesIO(DAYLIO.encode()), "a.csv")})
    assert response.status_code == 403
