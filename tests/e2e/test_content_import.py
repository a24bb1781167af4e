"""The content library, recommendations and mood import through the gateway, and an editor made by
the admin."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.e2e

HEADER = "full_date,date,weekday,time,mood,activities,note_title,note\n"


def test_import_through_the_gateway_feeds_the_streak_and_recommendations(people):
    ((alice, session),) = people(1)
    today = datetime.now(UTC).date()
    rows = "".join(f'{today - timedelta(days=d)},,,00:01,bad,walk,,=HYPERLINK("x")\n' for d in range(3))
    # Over 64 KiB: uploads have their own limit at the gateway.
    padding = "".join(f"2020-01-01,,,{h % 12 + 1}:{m:02d} AM,meh,,,{'n' * 80}\n" for h in range(12) for m in range(60))
    text = (HEADER + rows + padding).encode()
    assert len(text) > 64 * 1024
    files = {"file": ("daylio.csv", text, "text/csv")}
    dry = alice.post("/api/v1/moods/import?dry_run=true", files=files)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["created"], dry.json()["dry_run"]) == (3 + 720, True)
    done = alice.post("/api/v1/moods/import", files=files).json()
    assert (done["created"], done["rejected"]) == (723, 0)
    again = alice.post("/api/v1/moods/import", files=files).json()
    assert (again["created"], again["skipped_duplicates"]) == (0, 723)
    assert alice.get("/api/v1/moods/streak/me").json()["current_streak"] == 3
    notes = {e["note"] for e in alice.get("/api/v1/moods/user/me?limit=3").json()["items"]}
    assert notes == {'=HYPERLINK("x")'}
    found = alice.get("/api/v1/analytics/recommendations/me").json()["items"]
    assert found and all("low" in item["related_moods"] and item["reason"] for item in found)
    big = alice.post("/api/v1/moods/import", files={"file": ("big.csv", b"x" * (9 * 1024 * 1024), "text/csv")})
    assert big.status_code == 413 and big.headers["Content-Type"] == "application/problem+json"
    ((bob, _b),) = people(1)
    assert bob.get(f"/api/v1/analytics/recommendations/{session['user']['id']}").status_code == 403


def test_an_admin_makes_an_editor_who_publishes_an_item(admin, people):
    ((alice, session),) = people(1)
    draft = {"title": "Hum for a minute", "type": "exercise", "body": "*Hum* softly.", "related_moods": ["tense"]}
    assert alice.post("/api/v1/content", json=draft).status_code == 403
    roles = admin.put(f"/api/v1/auth/users/{session['user']['id']}/roles", json={"roles": ["editor"]})
    assert roles.status_code == 200 and "editor" in roles.json()["roles"]
    fresh = alice.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    alice.bearer(fresh.json()["access_token"])
    created = alice.post("/api/v1/content", json={**draft, "status": "published"})
    assert created.status_code == 201, created.text
    ((bob, _b),) = people(1)
    deadline = time.time() + 5
    listed = []
    while time.time() < deadline and not listed:
        listed = bob.get("/api/v1/content/by-mood/tense").json()["items"]
    assert [item["body"] for item in listed] == ["*Hum* softly."]
    assert len(bob.get("/api/v1/content?limit=100").json()["items"]) >= 33
    assert bob.get("/api/v1/content/categories").json()["items"]
