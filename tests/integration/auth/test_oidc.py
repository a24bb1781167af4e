"""Sign-in with an OpenID Connect ID token, verified against a provider's JWKS served over real HTTP."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.auth import create_app
from services.auth.models import OidcIdentity, OutboxEvent, db
from shared.config import ConfigError
from shared.testing import rolled_back
from tests.integration.auth.conftest import register

ISSUER = "https://id.example.test"
CLIENT_ID = "hugmood-web"
KID = "provider-key-1"


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(provider_key) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(provider_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def oidc_app(base_config: dict[str, Any], jwks_url: str) -> Flask:
    providers = {
        "example": {"issuer": ISSUER, "client_id": CLIENT_ID, "jwks_uri": jwks_url},
        "down": {"issuer": ISSUER, "client_id": CLIENT_ID, "jwks_uri": "http://127.0.0.1:9/jwks"},
    }
    return create_app({**base_config, "AUTH_OIDC_PROVIDERS": json.dumps(providers)})


@pytest.fixture
def client(oidc_app: Flask, redis_client) -> Iterator[FlaskClient]:
    with oidc_app.app_context(), rolled_back(db):
        yield oidc_app.test_client()


def id_token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": f"subject-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "exp": now + 300,
        "email": f"oidc-{uuid.uuid4().hex[:8]}@example.com",
        "email_verified": True,
        "preferred_username": "river",
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


def sign_in(client: FlaskClient, token: str, provider: str = "example"):
    return client.post(f"/api/v1/auth/oauth/{provider}", json={"id_token": token})


def test_a_first_sign_in_creates_the_account_and_the_next_finds_it(client, provider_key):
    token = id_token(provider_key, sub="same-person")
    first = sign_in(client, token)
    assert first.status_code == 201, first.json
    assert first.headers["Cache-Control"] == "no-store"
    body = first.json
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    assert body["user"]["username"].startswith("river")
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json["id"] == body["user"]["id"]
    assert me.json["email_verified"] is True  # the provider vouched for the address
    again = sign_in(client, id_token(provider_key, sub="same-person", email="changed@example.com"))
    assert again.status_code == 200 and again.json["user"]["id"] == body["user"]["id"]
    identity = db.session.execute(select(OidcIdentity).where(OidcIdentity.subject == "same-person")).scalar_one()
    assert str(identity.user_id) == body["user"]["id"]
    registered = db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == "UserRegistered")).scalars()
    assert body["user"]["id"] in [e.payload["data"]["user_id"] for e in registered]


def test_an_account_made_by_oidc_has_no_password_that_works(client, provider_key):
    body = sign_in(client, id_token(provider_key, email="nopass@example.com")).json
    for password in ("", "!", "a calm blue ocean"):
        login = client.post("/api/v1/auth/login", json={"username": body["user"]["username"], "password": password})
        assert login.status_code in (401, 422), login.json


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "someone-else"},
        {"iss": "https://evil.example.test"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"sub": None},
        {"exp": None},
    ],
    ids=["wrong audience", "wrong issuer", "expired", "no subject", "no expiry"],
)
def test_a_token_failing_any_check_gets_401(client, provider_key, overrides):
    response = sign_in(client, id_token(provider_key, **overrides))
    assert response.status_code == 401 and response.json["code"] == "auth.oidc_invalid_token"
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_token_signed_by_another_key_gets_401(client):
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert sign_in(client, id_token(impostor)).status_code == 401


def test_an_unsigned_or_garbled_token_gets_401(client, provider_key):
    unsigned = jwt.encode({"iss": ISSUER, "aud": CLIENT_ID, "sub": "x"}, key=None, algorithm="none")
    assert sign_in(client, unsigned).status_code == 401
    assert sign_in(client, "not.a.token").status_code == 401


def test_an_existing_email_is_never_taken_over_by_a_provider_account(client, provider_key):
    register(client, "keeper")
    response = sign_in(client, id_token(provider_key, email="KEEPER@example.com"))
    assert response.status_code == 409 and response.json["code"] == "auth.email_taken"


def test_an_unverified_email_is_refused(client, provider_key):
    assert sign_in(client, id_token(provider_key, email_verified=False)).status_code == 403
    assert sign_in(client, id_token(provider_key, email=None)).status_code == 403


def test_bad_requests(client, provider_key):
    assert sign_in(client, id_token(provider_key), provider="nosuch").status_code == 404
    assert client.post("/api/v1/auth/oauth/example", json={}).status_code == 422
    assert client.post("/api/v1/auth/oauth/example", json={"id_token": "x", "extra": 1}).status_code == 422
    garbled = client.post("/api/v1/auth/oauth/example", data=b"{", headers={"Content-Type": "application/json"})
    assert garbled.status_code == 400


def test_a_provider_whose_keys_cannot_be_fetched_gets_503(client, provider_key):
    response = sign_in(client, id_token(provider_key), provider="down")
    assert response.status_code == 503 and "Retry-After" in response.headers


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        '{"x": {"issuer": "i"}}',
        '{"x": {"issuer": "i", "client_id": "c", "jwks_uri": "http://evil/"}}',
    ],
)
def test_a_bad_provider_setting_is_named_at_start_up(base_config, value):
    with pytest.raises(ConfigError, match="AUTH_OIDC_PROVIDERS"):
        create_app({**base_config, "AUTH_OIDC_PROVIDERS": value})
