"""Forged, expired, misdirected and wrong-type tokens are refused with 401 problem+json."""

from __future__ import annotations

import base64
import json

import pytest

from services.auth.service import generate_private_key_pem
from tests.integration.auth.conftest import bearer, register


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _unsigned(claims: dict, kid: str) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{_b64(claims)}."


def _assert_401(response):
    assert response.status_code == 401, response.json
    assert response.content_type == "application/problem+json"


def test_alg_none_is_refused(client, signing_key):
    user_id = register(client)["user"]["id"]
    token = _unsigned(
        {
            "sub": user_id,
            "type": "access",
            "iss": "hugmood-auth",
            "aud": "hugmood",
            "exp": 9999999999,
            "iat": 1,
            "jti": "x",
        },
        signing_key.kid,
    )
    _assert_401(client.get("/api/v1/auth/me", headers=bearer(token)))


def test_tampered_payload_is_refused(client):
    token = register(client)["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    _assert_401(client.get("/api/v1/auth/me", headers=bearer(f"{header}.{_b64(claims)}.{signature}")))


def test_expired_token_is_refused(client, token_for):
    user_id = register(client)["user"]["id"]
    response = client.get("/api/v1/auth/me", headers=bearer(token_for(user_id, lifetime=-60)))
    _assert_401(response)
    assert response.json["code"] == "auth.token_expired"


@pytest.mark.parametrize(
    "override", [{"issuer": "evil"}, {"audience": "other-app"}, {"type": "refresh"}, {"headers": {"typ": "JWT"}}]
)
def test_wrong_issuer_audience_or_type_is_refused(client, token_for, override):
    user_id = register(client)["user"]["id"]
    _assert_401(client.get("/api/v1/auth/me", headers=bearer(token_for(user_id, **override))))


def test_token_signed_by_another_key_is_refused(client, signing_key):
    from shared.testing import mint_token

    user_id = register(client)["user"]["id"]
    forged = mint_token(generate_private_key_pem(), signing_key.kid, subject=user_id)
    _assert_401(client.get("/api/v1/auth/me", headers=bearer(forged)))


def test_refresh_token_used_as_access_token_is_refused(client):
    session = register(client)
    _assert_401(client.get("/api/v1/auth/me", headers=bearer(session["refresh_token"])))


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer a.b", "Token " + "x" * 10, "Bearer " + "x" * 5000])
def test_malformed_authorization_is_refused(client, header):
    _assert_401(client.get("/api/v1/auth/me", headers={"Authorization": header}))
