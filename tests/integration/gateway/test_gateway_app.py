"""The gateway WSGI app in-process: Redis down, token checks before proxying, problem bodies."""

from __future__ import annotations

import io

import pytest
from werkzeug.test import Client

from gateway import create_app
from shared.app import MAX_UPLOAD_BYTES


@pytest.fixture
def gateway_without_redis(signing_key):
    app = create_app(
        {
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "GATEWAY_AUTH_RATE_LIMIT": "4",
            "AUTH_URL": "http://127.0.0.1:9",
            "USER_URL": "http://127.0.0.1:9",
        }
    )
    app.keys.url = None
    app.keys.load({"keys": [signing_key.public_jwk]})
    return Client(app)


def test_redis_down_keeps_login_limited_by_the_local_fallback(gateway_without_redis):
    statuses = [
        gateway_without_redis.post("/api/v1/auth/login", json={"username": "a", "password": "bbbbbbbb"}).status_code
        for _ in range(6)
    ]
    assert all(s in (502, 503) for s in statuses[:4]), statuses  # no auth service is running
    assert statuses[4:] == [429, 429]


def test_redis_down_refuses_tokens_it_cannot_check_for_revocation(gateway_without_redis, token_for):
    response = gateway_without_redis.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token_for()}"})
    assert response.status_code == 503
    assert response.json["code"] == "auth.revocation_unavailable"
    assert response.headers["Retry-After"]


def test_redis_down_public_reads_fail_open(gateway_without_redis):
    response = gateway_without_redis.get("/api/v1/auth/jwks")
    assert response.status_code == 502  # proxied (no auth service here), not refused


def test_bad_token_is_refused_before_any_upstream_call(gateway_without_redis):
    response = gateway_without_redis.get("/api/v1/users/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.content_type == "application/problem+json"
    assert response.headers["X-Request-ID"] and response.headers["RateLimit-Limit"]


def test_oversized_and_non_json_bodies_are_refused_at_the_edge(gateway_without_redis):
    big = gateway_without_redis.post("/api/v1/auth/register", data=b"x" * 70000, content_type="application/json")
    assert big.status_code == 413
    form = gateway_without_redis.post(
        "/api/v1/auth/register", data=b"a=b", content_type="application/x-www-form-urlencoded"
    )
    assert form.status_code == 415


def test_the_mood_import_takes_a_multipart_upload_up_to_its_own_limit(gateway_without_redis):
    gateway = gateway_without_redis
    multipart = "multipart/form-data; boundary=B"
    # Over 64 KiB but under the upload limit: past the body checks, refused only for the missing token.
    fits = gateway.post("/api/v1/moods/import", data=b"x" * 70000, content_type=multipart)
    assert fits.status_code == 401
    big = gateway.post(
        "/api/v1/moods/import",
        data=b"x" * 10,
        content_type=multipart,
        environ_overrides={"CONTENT_LENGTH": str(50 * 1024 * 1024)},
    )
    assert big.status_code == 413 and big.content_type == "application/problem+json"
    undeclared = gateway.post(
        "/api/v1/moods/import",
        input_stream=io.BytesIO(b"x" * (MAX_UPLOAD_BYTES + 1)),
        content_type=multipart,
        environ_overrides={"CONTENT_LENGTH": ""},
    )
    assert undeclared.status_code == 413
    assert gateway.post("/api/v1/moods/import", json={"file": "x"}).status_code == 415
    # Elsewhere the JSON limit holds for multipart bodies too.
    assert gateway.post("/api/v1/moods", data=b"x" * 70000, content_type=multipart).status_code == 413


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/account/export", "/api/v1/service-registry"])
def test_another_method_on_the_gateways_own_paths_is_405_with_allow(gateway_without_redis, path):
    response = gateway_without_redis.post(path, json={})
    assert response.status_code == 405 and response.content_type == "application/problem+json"
    assert response.headers["Allow"] == "GET"
