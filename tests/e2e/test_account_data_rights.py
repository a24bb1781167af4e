"""Data rights through the gateway: the export, and an account deletion that every service
carries out, including one that was stopped when it happened."""

from __future__ import annotations

import functools
import json
import time

import psycopg2
import pytest
import redis

from shared.config import SCHEMAS, SERVICES
from tests.e2e.fleet import wait_for as fleet_wait_for

pytestmark = pytest.mark.e2e
PASSWORD = "a soft warm blanket"
ALICE_NOTE = "alice wrote this on a hard day"
BOB_SECRET = "bob keeps this to himself"


# Erasure fans out over every service's consumers: their waits get longer than the default.
wait_for = functools.partial(fleet_wait_for, timeout=30)


def rows_naming(database_url: str, user_id: str) -> dict[str, int]:
    """Every row in every service schema whose text mentions the user id, found without the
    services' own bookkeeping: each table's whole row is cast to text and searched."""
    found: dict[str, int] = {}
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE'",
            (list(SCHEMAS.values()),),
        )
        for schema, table in cur.fetchall():
            cur.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" AS t WHERE CAST(t AS text) LIKE %s', (f"%{user_id}%",)
            )
            count = cur.fetchone()[0]
            if count:
                found[f"{schema}.{table}"] = count
    conn.close()
    return found


def report(admin, user_id: str) -> dict:
    response = admin.get(f"/api/v1/admin/erasures/{user_id}")
    assert response.status_code == 200, response.text
    return response.json()


def befriend(a, a_id, b, b_id) -> None:
    assert a.post(f"/api/v1/users/{b_id}/friends").status_code == 201
    assert b.put(f"/api/v1/users/me/friends/{a_id}", json={"status": "accepted"}).status_code == 200


def test_export_holds_every_service_section_and_nothing_private_of_others(people):
    (alice, a), (bob, b) = people(2)
    a_id, b_id = a["user"]["id"], b["user"]["id"]
    befriend(alice, a_id, bob, b_id)
    assert alice.post("/api/v1/moods", json={"mood": "tired", "intensity": 0.4, "note": ALICE_NOTE}).status_code == 201
    assert bob.post("/api/v1/moods", json={"mood": "low", "intensity": 0.3, "note": BOB_SECRET}).status_code == 201
    assert bob.post("/api/v1/hugs", json={"recipient_id": a_id, "type": "warm"}).status_code == 201
    wait_for(lambda: alice.get("/api/v1/notifications").json()["items"], what="the hug notification")
    response = alice.get("/api/v1/account/export")
    assert response.status_code == 200, response.text
    document = response.json()
    assert set(SERVICES) <= set(document) and document["user_id"] == a_id
    assert document["exported_at"].endswith("Z")  # RFC 3339 in UTC, as every time in the API
    assert document["auth"]["account"]["created_at"].endswith("Z")
    assert document["auth"]["account"]["username"] == a["user"]["username"]
    text = json.dumps(document)
    assert ALICE_NOTE in text  # her own private note is hers to take
    assert BOB_SECRET not in text and "password_hash" not in text and "argon2" not in text
    anonymous = alice.__class__(alice.base_url, "127.0.7.1")
    assert anonymous.get("/api/v1/account/export").status_code == 401


def test_erasure_report_is_for_admins_and_checks_its_input(people, admin):
    (alice, a), _ = people(2)
    assert alice.get(f"/api/v1/admin/erasures/{a['user']['id']}").status_code == 403
    bad = admin.get("/api/v1/admin/erasures/not-a-uuid")
    assert bad.status_code == 404 and bad.headers["Content-Type"] == "application/problem+json"
    live = report(admin, a["user"]["id"])
    assert live["complete"] is False and live["services"]["auth"]["rows"]["users"] == 1


def test_deletion_with_the_social_service_down_catches_up_to_zero(fleet, people, admin):
    (alice, a), (bob, b), (carol, c) = people(3)
    a_id, b_id = a["user"]["id"], b["user"]["id"]
    # Alice leaves traces in every service, and in other people's data.
    befriend(alice, a_id, bob, b_id)
    befriend(carol, c["user"]["id"], alice, a_id)
    assert (
        alice.put(
            "/api/v1/users/me/privacy", json={"allow_hugs_from": "anyone", "share_moods_with": "public"}
        ).status_code
        == 200
    )
    mood = alice.post("/api/v1/moods", json={"mood": "calm", "intensity": 0.6, "is_public": True, "note": ALICE_NOTE})
    assert mood.status_code == 201
    item = alice.get("/api/v1/content?limit=1").json()["items"][0]
    kept = alice.post(f"/api/v1/content/{item['id']}/interactions", json={"type": "bookmark"})
    assert kept.status_code == 201
    assert alice.post("/api/v1/hugs", json={"recipient_id": b_id, "type": "warm"}).status_code == 201
    assert bob.post("/api/v1/hugs", json={"recipient_id": a_id, "type": "warm"}).status_code == 201
    assert alice.post("/api/v1/devices", json={"device_token": "alice-phone", "device_type": "ios"}).status_code == 201
    activity = alice.post("/api/v1/social/activities", json={"type": "gratitude", "visibility": "friends"})
    assert activity.status_code == 201
    share = alice.post(
        "/api/v1/social/share", json={"content_type": "mood", "content_id": mood.json()["id"], "platform": "web"}
    )
    assert share.status_code == 201, share.text
    wait_for(lambda: bob.get("/api/v1/notifications").json()["items"], what="bob's hug notification")
    wait_for(
        lambda: any(i["user_id"] == a_id for i in bob.get("/api/v1/social/feed").json()["items"]),
        what="alice's activity in bob's feed",
    )
    database_url, redis_url = fleet.env["DATABASE_URL"], fleet.env["REDIS_URL"]
    before = rows_naming(database_url, a_id)
    assert {
        "social.activities",
        "hugs.hugs",
        "notifications.notifications",
        "moods.mood_entries",
        "moods.content_bookmarks",
        "moods.content_interactions",
    } <= set(before)

    # The social service stops: its HTTP process and the worker that runs its consumers.
    fleet.stop("social")
    fleet.stop("worker_social")
    try:
        wrong = alice.delete("/api/v1/auth/account", json={"password": "not it"})
        assert wrong.status_code == 403
        assert alice.delete("/api/v1/auth/account", json={}).status_code == 422
        deleted = alice.delete("/api/v1/auth/account", json={"password": PASSWORD})
        assert deleted.status_code == 202, deleted.text
        deleted_at = time.monotonic()
        # The account is disabled at once, at the gateway, for every route.
        for path in ("/api/v1/auth/me", "/api/v1/moods/user/" + a_id, "/api/v1/notifications"):
            refused = alice.get(path)
            assert refused.status_code == 401 and refused.json()["code"] == "auth.token_revoked", path
        # A hug in flight: sent before the hug service has had the event it may still be taken
        # (201), after it finds no one (404/422); either way nothing of it may remain at the end.
        in_flight = bob.post("/api/v1/hugs", json={"recipient_id": a_id, "type": "warm"})
        assert in_flight.status_code in (201, 404, 422), in_flight.text
        # The running services erase; the stopped one cannot, and the report says so.
        during = wait_for(
            lambda: (
                (r := report(admin, a_id))
                and all(r["services"][s].get("total") == 0 for s in SERVICES if s not in ("auth", "social"))
                and r
            ),
            what="the running services to erase",
        )
        running_done = time.monotonic() - deleted_at
        assert during["services"]["social"] == {"status": "unavailable"} and during["complete"] is False
        # Auth keeps only the UserDeleted event, until the last consumer (social's) has it.
        assert {t: n for t, n in during["services"]["auth"]["rows"].items() if n} == {"outbox": 1}
        assert bob.get("/api/v1/account/export").status_code == 503
    finally:
        fleet.start("social", "worker_social")
        restarted_at = time.monotonic()
    fleet.wait_healthy(("social",))

    done = wait_for(lambda: (r := report(admin, a_id))["complete"] and r, timeout=60, what="social to catch up")
    print(
        f"\ndeletion with social down: rows before {sum(before.values())} in {len(before)} tables; running services "
        f"erased within {running_done:.1f}s of the 202; a complete report "
        f"{time.monotonic() - restarted_at:.1f}s after social restarted (the gateway's circuit to social, "
        "opened while it was down, closes once social's /readyz answers)"
    )
    assert done["remaining"] == 0 and all(entry["erased"] for entry in done["services"].values())
    assert rows_naming(database_url, a_id) == {}
    late = bob.post("/api/v1/hugs", json={"recipient_id": a_id, "type": "warm"})
    assert late.status_code in (404, 422) and late.headers["Content-Type"] == "application/problem+json"
    assert rows_naming(database_url, a_id) == {}
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=f"*{a_id}*")) == []
    client.close()
    # What was hers is gone from everyone else's view too.
    assert all(i["user_id"] != a_id for i in bob.get("/api/v1/social/feed").json()["items"])
    assert a_id not in json.dumps(bob.get("/api/v1/notifications").json())
    assert a_id not in json.dumps(bob.get(f"/api/v1/users/{b_id}/friends").json())
    path = "/api/v1/social/shared/" + share.json()["share_url"].rsplit("/", 1)[1]
    assert bob.get(path).status_code == 404
