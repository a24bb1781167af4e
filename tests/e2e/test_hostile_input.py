"""Input a client should never send, through the gateway: each gets a clear 4xx in problem+json,
never a 500 (each case here was a 500, or was wrongly accepted, until it was fixed)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests

from tests.e2e.fleet import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def social_circuits_closed(fleet):
    """Tests before these stop the social service on purpose, and each gateway worker keeps its
    circuit to it open until its reset time has passed and one request has gone through. Wait for
    that, on new connections (which spread over the gateway's workers), so a 503 here means this
    test's request."""
    probe = fleet.gateway + "/api/v1/social/shared/" + "x" * 43  # public: 404 when social answers

    def closed() -> bool:
        return all(requests.get(probe, timeout=5).status_code == 404 for _ in range(6))

    wait_for(closed, timeout=90, what="the gateway's circuits to the social service to close", every=2.0)


NUL, SURROGATE = "a\u0000b", "a\ud800b"  # PostgreSQL stores neither; a lone surrogate has no UTF-8 form


def raw_json(document: object) -> bytes:
    """JSON as a client may send it: lone surrogates as \\ud800 escapes (what json.dumps writes)."""
    return json.dumps(document).encode()


def problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json()


def send(client, method: str, path: str, document: object):
    return client.request(method, path, data=raw_json(document), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_text_a_database_cannot_store_is_422_naming_the_field(people, text):
    (alice, a), (bob, b) = people(2)
    bob.put("/api/v1/users/me/privacy", json={"allow_hugs_from": "anyone"})
    cases = [
        ("POST", "/api/v1/moods", {"mood": "calm", "intensity": 0.5, "note": text}, "note"),
        ("POST", "/api/v1/moods", {"mood": "calm", "intensity": 0.5, "tags": ["ok", text]}, "tags.1"),
        ("PUT", "/api/v1/users/me", {"display_name": text}, "display_name"),
        ("POST", "/api/v1/hugs", {"recipient_id": b["user"]["id"], "type": "warm", "message": text}, "message"),
        ("POST", "/api/v1/hugs/request", {"message": text}, "message"),
        ("POST", "/api/v1/devices", {"device_token": text, "device_type": "ios"}, "device_token"),
        (
            "PUT",
            "/api/v1/notifications/preferences",
            {"quiet_hours": {"start": text, "end": "07:00"}},
            "quiet_hours.start",
        ),
    ]
    for method, path, document, field in cases:
        body = problem(send(alice, method, path, document), 422)
        assert field in body["errors"], (path, body)
    # Nothing was stored: the mood list is still empty.
    assert alice.get("/api/v1/moods/user/me").json()["items"] == []


def test_public_auth_routes_refuse_unstorable_text_before_any_service_sees_it(client, new_user, fleet):
    for _ in range(8):  # more than the breaker's failure limit: each one a 422, none a 500
        problem(send(client, "POST", "/api/v1/auth/refresh", {"refresh_token": SURROGATE}), 422)
    problem(send(client, "POST", "/api/v1/auth/login", {"username": NUL, "password": "x" * 12}), 422)
    form = client.post(
        "/api/v1/auth/token",
        data=b"grant_type=password&username=a%00b&password=whatever",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    problem(form, 422)
    # The auth service is still there for everyone (no circuit opened by the above).
    new_user()
    assert client.get("/api/v1/auth/me").status_code == 200


def test_nul_in_query_parameters_is_422(people):
    ((alice, _a),) = people(1)
    for path in ("/api/v1/moods/user/me?mood=a%00", "/api/v1/moods/user/me?tag=%00", "/api/v1/users/search?q=%00"):
        problem(alice.get(path), 422)


def test_query_numbers_in_other_scripts_are_422(people):
    ((alice, _a),) = people(1)
    full_width_one = "%EF%BC%91"  # int() reads it as 1
    for path in ("/api/v1/moods/user/me", "/api/v1/notifications", "/api/v1/social/recommendations"):
        assert "limit" in problem(alice.get(f"{path}?limit={full_width_one}"), 422)["errors"]
    problem(alice.get(f"/api/v1/notifications/poll?timeout={full_width_one}"), 422)


def test_json_nested_too_deeply_is_400_not_500(people):
    ((alice, _a),) = people(1)
    deep = b"[" * 30000 + b"]" * 30000
    body = problem(alice.post("/api/v1/moods", data=deep, headers={"Content-Type": "application/json"}), 400)
    assert body["code"] == "malformed_json"


def test_times_out_of_range_are_422(people):
    ((alice, _a),) = people(1)
    for when in ("0001-01-01T00:00:00+14:00", "1899-12-31T23:59:59Z"):
        body = problem(alice.post("/api/v1/moods", json={"mood": "ok", "intensity": 0.5, "recorded_at": when}), 422)
        assert "recorded_at" in body["errors"]
    problem(alice.get("/api/v1/moods/user/me?from=0001-01-01T00:00:00%2B14:00"), 422)


def test_analytics_over_all_time_counts_old_entries(people):
    ((alice, _a),) = people(1)
    for when in ("1960-05-05T10:00:00Z", "1999-12-31T12:00:00Z"):
        assert (
            alice.post("/api/v1/moods", json={"mood": "ok", "intensity": 0.5, "recorded_at": when}).status_code == 201
        )
    assert alice.get("/api/v1/moods/analytics/me?period=all").json()["count"] == 2


def test_cursors_with_non_ascii_digits_are_422(people):
    ((alice, _a),) = people(1)
    cursor = base64.urlsafe_b64encode(json.dumps(["\u00b2"]).encode()).decode().rstrip("=")  # "²".isdigit()
    problem(alice.get(f"/api/v1/notifications?cursor={cursor}"), 422)
    problem(alice.get(f"/api/v1/notifications/poll?cursor={cursor}&timeout=1"), 422)


def test_patterns_do_not_admit_a_final_newline_or_other_scripts_digits(people, client):
    ((alice, _a),) = people(1)
    for start in ("22:00\n", "\uff12\uff12:00"):  # "$" admitted the newline, "\d" the full-width digits
        body = problem(
            alice.put("/api/v1/notifications/preferences", json={"quiet_hours": {"start": start, "end": "07:00"}}), 422
        )
        assert "quiet_hours" in body["errors"]
    taken = {
        "username": "newline_name\n",
        "email": f"{uuid.uuid4().hex[:8]}@example.com",
        "password": "a soft warm blanket",
    }
    assert "username" in problem(client.post("/api/v1/auth/register", json=taken), 422)["errors"]


def test_localtime_is_not_a_time_zone_name(people):
    ((alice, _a),) = people(1)
    assert "timezone" in problem(alice.put("/api/v1/users/me", json={"timezone": "localtime"}), 422)["errors"]


def test_created_resources_are_located_and_empty_answers_have_no_type(people, client):
    registered = client.post(
        "/api/v1/auth/register",
        json={
            "username": f"loc_{uuid.uuid4().hex[:8]}",
            "email": f"{uuid.uuid4().hex[:8]}@example.com",
            "password": "a soft warm blanket",
        },
    )
    assert registered.status_code == 201
    assert registered.headers["Location"] == f"/api/v1/users/{registered.json()['user']['id']}"
    (alice, _a), (_bob, b) = people(2)
    asked = alice.post(f"/api/v1/users/{b['user']['id']}/friends")
    assert asked.status_code == 201 and asked.headers["Location"] == f"/api/v1/users/me/friends/{b['user']['id']}"
    mood = alice.post("/api/v1/moods", json={"mood": "ok", "intensity": 0.5}).json()
    deleted = alice.delete(f"/api/v1/moods/{mood['id']}")
    assert deleted.status_code == 204 and "Content-Type" not in deleted.headers and deleted.content == b""


def test_privacy_of_an_unknown_user_is_404_of_another_user_403(people):
    (alice, _a), (_bob, b) = people(2)
    problem(alice.get(f"/api/v1/users/{uuid.uuid4()}/privacy"), 404)
    problem(alice.get(f"/api/v1/users/{b['user']['id']}/privacy"), 403)
    problem(alice.put(f"/api/v1/users/{uuid.uuid4()}/privacy", json={"share_moods_with": "none"}), 404)


def test_a_double_slash_in_a_path_is_404_not_a_redirect_or_500(people):
    ((alice, _a),) = people(1)
    for path in ("/api/v1/social//feed", "/api/v1/hugs//types", "/api/v1/users/me//friends", "/api/v1/auth//me"):
        problem(alice.get(path, allow_redirects=False), 404)


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e309"])
def test_numbers_json_does_not_have_are_400(people, number):
    ((alice, _a),) = people(1)
    body = b'{"type": "walk", "visibility": "public", "data": {"n": ' + number + b"}}"
    response = alice.post("/api/v1/social/activities", data=body, headers={"Content-Type": "application/json"})
    assert problem(response, 400)["code"] == "malformed_json"


def test_me_on_the_roles_route_is_the_admin_themself(admin):
    me = admin.get("/api/v1/auth/me").json()
    response = admin.put("/api/v1/auth/users/me/roles", json={"roles": ["admin"]})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == me["id"] and "admin" in response.json()["roles"]
