"""Auth through the gateway, and the same tokens presented directly to the services."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from shared.testing import mint_token

pytestmark = pytest.mark.e2e


def direct(fleet, service: str, token: str) -> requests.Response:
    """A request straight to a service, bypassing the gateway (any path: verification comes first)."""
    return requests.get(fleet.url(service) + "/api/v1/probe", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_register_login_refresh_reuse_and_logout(fleet, client, new_user):
    session = new_user()
    username = session["user"]["username"]
    login = client.post("/api/v1/auth/login", json={"username": username, "password": "a soft warm blanket"})
    assert login.status_code == 200
    tokens = login.json()

    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401
    # Reuse revoked the family: the rotated pair is dead everywhere too.
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}).status_code == 401
    )
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"}).status_code
        == 401
    )

    access = session["access_token"]
    assert client.get("/api/v1/auth/me").json()["username"] == username
    assert direct(fleet, "user", access).status_code == 404  # accepted by the user service
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    refused = direct(fleet, "user", access)
    assert refused.status_code == 401 and refused.json()["code"] == "auth.token_revoked"
    assert direct(fleet, "mood", access).status_code == 401


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def bad_tokens(fleet_key, session) -> dict[str, str]:
    user_id = session["user"]["id"]
    header, payload, signature = session["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    now = int(time.time())
    return {
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': fleet_key.kid})}.{_b64(claims)}.",
        "tampered": f"{header}.{_b64({**claims, 'roles': ['admin']})}.{signature}",
        "expired": mint_token(
            fleet_key.private_pem, fleet_key.kid, subject=user_id, iat=now - 1000, nbf=now - 1000, exp=now - 100
        ),
        "refresh_as_access": session["refresh_token"],
    }


@pytest.mark.parametrize("kind", ["alg_none", "tampered", "expired", "refresh_as_access"])
def test_bad_tokens_refused_at_gateway_and_services(fleet, fleet_key, client, new_user, kind):
    token = bad_tokens(fleet_key, new_user())[kind]
    at_gateway = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert at_gateway.status_code == 401
    assert at_gateway.headers["Content-Type"] == "application/problem+json"
    assert int(at_gateway.headers["RateLimit-Remaining"]) >= 0  # refusals are metered too
    for service in ("auth", "user", "social"):
        assert direct(fleet, service, token).status_code == 401, service


def test_login_route_is_limited_with_headers(client, new_user):
    new_user()
    # The limiter counts in fixed 60 s windows (aligned to the epoch): start where the 7 requests
    # cannot straddle two of them, or the count restarts mid-test.
    left = 60 - time.time() % 60
    if left < 15:
        time.sleep(left + 0.2)
    responses = [
        client.post("/api/v1/auth/login", json={"username": "nobody", "password": "nothing at all"}) for _ in range(7)
    ]
    assert [r.status_code for r in responses[:5]] == [401] * 5
    limited = responses[5]
    assert limited.status_code == 429
    assert limited.headers["Content-Type"] == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["RateLimit-Limit"] == "5" and limited.headers["RateLimit-Remaining"] == "0"
    assert "RateLimit-Reset" in responses[0].headers


def test_spoofed_forwarded_for_does_not_change_the_bucket(fleet):
    from tests.e2e.fleet import Client

    spoofer = Client(fleet.gateway, "127.0.3.1")
    statuses = [
        spoofer.post(
            "/api/v1/auth/login",
            json={"username": "x", "password": "yyyyyyyy"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        ).status_code
        for i in range(7)
    ]
    assert statuses.count(429) == 2


def test_forwarded_for_from_a_trusted_proxy_sets_the_bucket(fleet):
    from tests.e2e.fleet import Client

    proxy = Client(fleet.gateway, "127.0.0.2")  # configured as trusted
    statuses = [
        proxy.post(
            "/api/v1/auth/login",
            json={"username": "x", "password": "yyyyyyyy"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        ).status_code
        for i in range(7)
    ]
    assert 429 not in statuses


def test_request_id_reaches_the_service_logs(fleet, client, new_user):
    new_user()
    response = client.get("/api/v1/auth/me", headers={"X-Request-ID": "e2e-trace-42"})
    assert response.headers["X-Request-ID"] == "e2e-trace-42"
    deadline = time.time() + 5
    while time.time() < deadline and "e2e-trace-42" not in fleet.log("auth"):
        time.sleep(0.1)
    lines = [json.loads(line[line.index("{") :]) for line in fleet.log("auth").splitlines() if "e2e-trace-42" in line]
    assert lines and lines[0]["route"] == "/api/v1/auth/me" and lines[0]["status"] == 200
    assert any("e2e-trace-42" in line for line in fleet.log("gateway").splitlines())


def test_outbox_rows_reach_their_consumer_and_the_ledger_says_so(fleet, new_user):
    import psycopg2

    user_id = new_user()["user"]["id"]
    conn = psycopg2.connect(fleet.env["DATABASE_URL"])
    conn.autocommit = True
    try:
        deadline = time.time() + 20
        row = None
        while time.time() < deadline:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT o.published_at IS NOT NULL, d.consumer, d.done_at IS NOT NULL FROM auth.outbox o "
                    "JOIN auth.outbox_deliveries d ON d.event_id = o.id "
                    "WHERE o.payload->'data'->>'user_id' = %s AND o.event_type = 'UserRegistered' "
                    "AND d.consumer = 'user.profiles'",
                    (user_id,),
                )
                row = cur.fetchone()
            if row and row[2]:
                break
            time.sleep(0.2)
        assert row == (True, "user.profiles", True)
    finally:
        conn.close()
    # Every pass of the relay so far (relaying, redelivery, counting, pruning) ran without an error.
    assert "relay pass failed" not in fleet.log("relay"), fleet.log("relay")[-3000:]


def test_provider_sign_in_needs_no_token_at_the_gateway(client):
    # No provider is configured in this fleet: the auth service itself answers 404, not the gateway 401.
    response = client.post("/api/v1/auth/oauth/nosuch", json={"id_token": "x.y.z"})
    assert response.status_code == 404 and response.json()["code"] == "auth.oidc_unknown_provider"
    assert "RateLimit-Limit" in response.headers
