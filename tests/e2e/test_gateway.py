"""The gateway's own behaviour: registry, status, bodies, and breakers with a service down."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import WEB_ORIGIN

pytestmark = pytest.mark.e2e


def test_status_is_public_and_lists_every_service(client):
    body = client.get("/api/v1/status").json()
    assert body["status"] == "ok"
    assert set(body["services"]) == {"auth", "user", "mood", "hug", "notification", "social"}
    assert all(s == {"status": "up"} for s in body["services"].values())


def test_admins_get_status_details(admin):
    services = admin.get("/api/v1/status").json()["services"]
    assert services["auth"]["circuit"] == "closed" and services["auth"]["instances"]


def test_registry_is_for_admins_only(client, new_user, admin):
    assert client.get("/api/v1/service-registry").status_code == 401
    new_user()
    forbidden = client.get("/api/v1/service-registry")
    assert forbidden.status_code == 403 and forbidden.headers["Content-Type"] == "application/problem+json"
    registry = admin.get("/api/v1/service-registry")
    assert registry.status_code == 200
    entries = {s["name"]: s for s in registry.json()["services"]}
    assert set(entries) == {"auth", "user", "mood", "hug", "notification", "social"}
    assert entries["auth"]["routes"] == ["/api/v1/auth/"] and entries["auth"]["health"] == "up"
    assert entries["user"]["circuit_breaker"]["state"] == "closed" and entries["user"]["version"]


@pytest.mark.parametrize(
    "data,content_type,status",
    [
        (b"x" * (64 * 1024 + 10), "application/json", 413),
        (b"username=a", "text/plain", 415),
        (b'{"username": ', "application/json", 400),
        (b'{"username": "a", "unknown": 1}', "application/json", 422),
    ],
)
def test_bad_bodies_get_problem_json(client, data, content_type, status):
    response = client.post("/api/v1/auth/register", data=data, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status and response.json()["request_id"]


def test_unknown_path_is_a_404_problem(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.headers["Content-Type"] == "application/problem+json"


def test_stopped_service_opens_its_circuit_while_others_keep_working(fleet, client, new_user):
    new_user()
    fleet.stop("social")
    try:
        failures = [client.get("/api/v1/social/feed").status_code for _ in range(3)]
        assert set(failures) <= {502, 503} and failures[0] == 502
        started = time.perf_counter()
        fast = client.get("/api/v1/social/feed")
        assert fast.status_code == 503 and time.perf_counter() - started < 0.5
        assert int(fast.headers["Retry-After"]) >= 1
        assert fast.json()["code"] == "upstream.circuit_open"
        assert client.get("/api/v1/auth/me").status_code == 200
        assert client.get("/api/v1/status").json()["services"]["social"] == {"status": "down", "circuit": "open"}
    finally:
        fleet.start("social")
        fleet.wait_healthy(("social",))


def test_a_browser_on_the_allowed_origin_preflights_then_edits_with_if_match(people):
    """What a web app on another origin does: preflight without a token, read with the ETag
    exposed, write with If-Match; an origin not allowed gets no CORS header."""
    ((browser, _),) = people(1)
    path = "/api/v1/users/me/privacy"
    preflight = browser.options(
        path,
        headers={
            "Origin": WEB_ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
            "Authorization": None,  # a browser's preflight carries no credentials
        },
    )
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert "If-Match" in preflight.headers["Access-Control-Allow-Headers"]
    read = browser.get(path, headers={"Origin": WEB_ORIGIN})
    assert read.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert "ETag" in read.headers["Access-Control-Expose-Headers"]
    edit = browser.put(
        path, json={"allow_hugs_from": "anyone"}, headers={"Origin": WEB_ORIGIN, "If-Match": read.headers["ETag"]}
    )
    assert edit.status_code == 200 and edit.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    again = browser.put(path, json={"allow_hugs_from": "none"}, headers={"If-Match": read.headers["ETag"]})
    assert again.status_code == 412
    denied = browser.options(path, headers={"Origin": "https://elsewhere.test", "Access-Control-Request-Method": "PUT"})
    assert denied.status_code == 403 and not any(h.lower().startswith("access-control-") for h in denied.headers)
