"""CORS at the gateway: preflights answered without a token or the real rate limits, allowed
origins named on answers, everything else without a CORS header and never a 500."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from gateway import create_app
from shared.config import ConfigError
from shared.errors import PROBLEM_JSON
from tests.integration.gateway.live_gateway import NOWHERE

APP = "https://app.example.com"
OTHER = "https://evil.example.net"


def gateway(redis_url: str, signing_key, **settings: str) -> Client:
    app = create_app(
        {
            "REDIS_URL": redis_url,
            **{f"{name}_URL": NOWHERE for name in ("AUTH", "USER", "MOOD", "HUG", "NOTIFICATION", "SOCIAL")},
            **settings,
        }
    )
    app.keys.url = None
    app.keys.load({"keys": [signing_key.public_jwk]})
    return Client(app)


@pytest.fixture
def cors_gateway(redis_url, redis_client, signing_key) -> Client:
    return gateway(
        redis_url,
        signing_key,
        GATEWAY_CORS_ORIGINS=f" {APP}/ , http://localhost:3000",
        GATEWAY_RATE_LIMIT_PER_IP="3",
    )


def preflight(client: Client, path: str, origin: str, method: str = "PUT"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key",
        },
    )


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def test_a_preflight_from_an_allowed_origin_is_answered_without_a_token(cors_gateway):
    response = preflight(cors_gateway, "/api/v1/users/me/privacy", APP)
    assert response.status_code == 204 and response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == APP  # the exact origin, never *
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "if-match", "if-none-match", "x-request-id"} <= allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "WWW-Authenticate" not in response.headers


def test_preflights_spend_none_of_the_real_requests_limit(cors_gateway):
    for _ in range(3):  # GATEWAY_RATE_LIMIT_PER_IP=3, all in the preflights' own bucket
        assert preflight(cors_gateway, "/api/v1/hugs", "http://localhost:3000", "POST").status_code == 204
    real = cors_gateway.get("/api/v1/nothing-here", headers={"Origin": APP})
    assert real.status_code == 404
    assert (real.headers["RateLimit-Limit"], real.headers["RateLimit-Remaining"]) == ("3", "2")


def test_a_flood_of_preflights_is_still_bounded(redis_url, redis_client, signing_key):
    client = gateway(redis_url, signing_key, GATEWAY_CORS_ORIGINS=APP, GATEWAY_RATE_LIMIT_PER_IP="2")
    statuses = [preflight(client, "/api/v1/moods", APP).status_code for _ in range(4)]
    assert statuses == [204, 204, 429, 429]


@pytest.mark.parametrize("origin", [OTHER, "null", "https://app.example.com.evil.net", "http://app.example.com", "%%"])
def test_a_preflight_from_an_origin_not_allowed_gets_403_and_no_cors_header(cors_gateway, origin):
    response = preflight(cors_gateway, "/api/v1/users/me/privacy", origin)
    assert response.status_code == 403 and response.content_type == PROBLEM_JSON
    assert response.json["code"] == "cors.origin_not_allowed"
    assert cors_headers(response) == {}


def test_without_configured_origins_there_is_no_cors_at_all(redis_url, redis_client, signing_key):
    client = gateway(redis_url, signing_key)
    response = preflight(client, "/api/v1/moods", APP)
    assert response.status_code == 403 and response.content_type == PROBLEM_JSON
    assert cors_headers(response) == {}
    real = client.get("/api/v1/nothing-here", headers={"Origin": APP})
    assert cors_headers(real) == {} and "Vary" not in real.headers


def test_answers_to_an_allowed_origin_name_it_and_expose_the_contract_headers(cors_gateway, token_for):
    for response in (
        cors_gateway.get("/api/v1/nothing-here", headers={"Origin": APP}),  # 404
        cors_gateway.get("/api/v1/moods/x", headers={"Origin": APP}),  # 401: a browser may read the problem
        cors_gateway.get(
            "/api/v1/moods/x", headers={"Origin": APP, "Authorization": f"Bearer {token_for()}"}
        ),  # 502: no mood service here
    ):
        assert response.status_code in (401, 404, 502)
        assert response.headers["Access-Control-Allow-Origin"] == APP
        exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert {
            "X-Request-ID",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "Retry-After",
            "ETag",
            "Location",
        } <= exposed
        assert "Origin" in response.headers.get_all("Vary")


def test_answers_to_another_origin_carry_no_cors_header_but_vary(cors_gateway):
    response = cors_gateway.get("/api/v1/nothing-here", headers={"Origin": OTHER})
    assert response.status_code == 404
    assert cors_headers(response) == {}
    assert response.headers["Vary"] == "Origin"


def test_an_options_without_preflight_headers_is_not_a_preflight(cors_gateway):
    response = cors_gateway.options("/api/v1/status", headers={"Origin": APP})
    assert response.status_code == 405 and response.content_type == PROBLEM_JSON


@pytest.mark.parametrize("value", ["*", "app.example.com", "https://app.example.com/path", "ftp://x.example"])
def test_a_malformed_origin_setting_is_refused_at_start(redis_url, signing_key, value):
    with pytest.raises(ConfigError, match="GATEWAY_CORS_ORIGINS"):
        gateway(redis_url, signing_key, GATEWAY_CORS_ORIGINS=value)


def test_preflights_are_answered_while_redis_is_down(cors_gateway, redis_unreachable):
    with redis_unreachable(cors_gateway.application.redis):
        response = preflight(cors_gateway, "/api/v1/moods", APP)
        refused = preflight(cors_gateway, "/api/v1/moods", OTHER)
    assert response.status_code == 204 and response.headers["Access-Control-Allow-Origin"] == APP
    assert refused.status_code == 403 and cors_headers(refused) == {}
