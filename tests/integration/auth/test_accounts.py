"""Register, login, me, and the bootstrap admin against real PostgreSQL and Redis."""

from __future__ import annotations

import uuid

import jwt
import pytest
from sqlalchemy import select

from services.auth.models import OutboxEvent, User, db
from tests.integration.auth.conftest import ADMIN, PASSWORD, bearer, register
from tests.integration.conditional import assert_etag_and_304


def test_register_returns_user_and_tokens(client):
    body = register(client, display_name="Alice A")
    assert body["user"]["username"] == "alice"
    assert body["user"]["roles"] == ["user"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["refresh_token"] and "password" not in body["user"]


def test_access_token_is_rs256_with_kid_iss_aud_typ(client, signing_key):
    token = register(client)["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == signing_key.kid and header["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "hugmood-auth" and claims["aud"] == "hugmood" and claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 900


def test_register_publishes_user_registered_through_outbox(client):
    user_id = register(client, display_name="Alice A")["user"]["id"]
    events = db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == "UserRegistered")).scalars().all()
    payloads = [e.payload["data"] for e in events if e.payload["data"]["user_id"] == user_id]
    assert payloads == [{"user_id": user_id, "username": "alice", "display_name": "Alice A"}]


def test_password_is_stored_as_argon2id(client):
    register(client)
    user = db.session.execute(select(User).where(User.username == "alice")).scalar_one()
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize(
    "field,value",
    [("username", "alice"), ("username", "ALICE"), ("email", "alice@example.com"), ("email", "Alice@Example.com")],
)
def test_taken_username_or_email_gets_409(client, field, value):
    register(client)
    body = {"username": "other", "email": "other@example.com", "password": PASSWORD, field: value}
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"


def test_a_taken_username_and_a_taken_email_get_the_same_answer(client):
    register(client)
    taken_username = client.post(
        "/api/v1/auth/register", json={"username": "alice", "email": "new@example.com", "password": PASSWORD}
    )
    taken_email = client.post(
        "/api/v1/auth/register", json={"username": "newcomer", "email": "alice@example.com", "password": PASSWORD}
    )
    assert taken_username.status_code == taken_email.status_code == 409
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(taken_username.json) == strip(taken_email.json)
    assert taken_email.json["code"] == "auth.account_taken"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"username": "ab", "email": "a@example.com", "password": PASSWORD}, "username"),
        ({"username": "bad name!", "email": "a@example.com", "password": PASSWORD}, "username"),
        ({"username": "x" * 31, "email": "a@example.com", "password": PASSWORD}, "username"),
        ({"username": "alice", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"username": "alice", "email": "a@example.com", "password": "short"}, "password"),
        ({"username": "alice", "email": "a@example.com", "password": "x" * 129}, "password"),
        ({"username": "alice", "email": "a@example.com", "password": "password123"}, "password"),
        ({"username": "alice", "email": "a@example.com", "password": "Alice"}, "password"),
        ({"username": "alice", "email": "a@example.com", "password": PASSWORD, "is_admin": True}, "is_admin"),
        ({"username": "alice", "email": "a@example.com", "password": PASSWORD, "roles": ["admin"]}, "roles"),
        ({"username": 5, "email": "a@example.com", "password": PASSWORD}, "username"),
    ],
)
def test_register_bad_input_gets_422_with_field_errors(client, body, field):
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]


def test_register_non_object_json_gets_422(client):
    response = client.post("/api/v1/auth/register", json=["alice"])
    assert response.status_code == 422


def test_password_of_128_characters_is_not_truncated(client):
    long_password = "p" * 100 + "q" * 28
    register(client, password=long_password)
    wrong_tail = "p" * 100 + "r" * 28
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": wrong_tail}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": long_password}).status_code == 200


@pytest.mark.parametrize(
    "login_field,login",
    [("username", "alice"), ("username", "ALICE"), ("email", "alice@example.com"), ("username", "alice@example.com")],
)
def test_login_by_username_or_email(client, login_field, login):
    register(client)
    response = client.post("/api/v1/auth/login", json={login_field: login, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json["user"]["username"] == "alice"
    assert response.json["access_token"] and response.json["refresh_token"]


def test_wrong_password_and_unknown_user_get_the_same_401(client):
    register(client)
    wrong = client.post("/api/v1/auth/login", json={"username": "alice", "password": "not the password"})
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(wrong.json) == strip(unknown.json)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"password": PASSWORD},
        {"username": "a", "email": "a@example.com", "password": "x"},
        {"username": "alice"},
        {"username": "alice", "password": PASSWORD, "extra": 1},
    ],
)
def test_login_bad_input_gets_422(client, body):
    assert client.post("/api/v1/auth/login", json=body).status_code == 422


def test_repeated_failures_are_throttled_with_growing_delay(client):
    register(client)
    statuses = [
        client.post(
            "/api/v1/auth/login",
            json={"username": "alice", "password": "wrong guess"},
            headers={"X-Real-IP": "203.0.113.9"},
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[5:]
    throttled = client.post(
        "/api/v1/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"X-Real-IP": "203.0.113.9"},
    )
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    # The real user on another address is not locked out by the attacker's failures.
    other = client.post(
        "/api/v1/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"X-Real-IP": "198.51.100.7"},
    )
    assert other.status_code == 200


def test_me_shows_the_caller(client):
    token = register(client)["access_token"]
    me = client.get("/api/v1/auth/me", headers=bearer(token)).json
    assert me["username"] == "alice" and me["email"] == "alice@example.com" and me["roles"] == ["user"]
    assert set(me) == {"id", "username", "email", "roles", "email_verified", "created_at", "last_login"}
    assert me["email_verified"] is False
    assert me["created_at"].endswith("Z")


def test_me_without_token_gets_401_problem(client):
    response = client.get("/api/v1/auth/me", headers={"X-User-ID": "someone", "X-HugMood-Caller": "gateway"})
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "auth.token_missing"


def test_bootstrap_admin_exists_with_admin_role(client):
    response = client.post(
        "/api/v1/auth/login", json={"username": ADMIN["ADMIN_USERNAME"], "password": ADMIN["ADMIN_PASSWORD"]}
    )
    assert response.status_code == 200
    assert "admin" in response.json["user"]["roles"]


def test_bootstrap_admin_is_idempotent_and_keeps_its_password(auth_app, client):
    from services.auth.service import ensure_admin

    ensure_admin(username=ADMIN["ADMIN_USERNAME"], email=ADMIN["ADMIN_EMAIL"], password="a brand new admin secret")
    ensure_admin(username=ADMIN["ADMIN_USERNAME"], email=ADMIN["ADMIN_EMAIL"], password="a brand new admin secret")
    admins = db.session.execute(select(User).where(User.username == ADMIN["ADMIN_USERNAME"])).scalars().all()
    assert len(admins) == 1
    for password, status in ((ADMIN["ADMIN_PASSWORD"], 200), ("a brand new admin secret", 401)):
        login = client.post("/api/v1/auth/login", json={"username": ADMIN["ADMIN_USERNAME"], "password": password})
        assert login.status_code == status


def test_a_restart_keeps_the_admin_password_set_through_the_api(base_config, redis_client):
    """ADMIN_PASSWORD makes the bootstrap admin; the next start must not put it back."""
    from services.auth import create_app

    name = f"boot_{uuid.uuid4().hex[:8]}"
    config = {
        **base_config,
        "AUTH_HASH_WORKERS": "0",
        "ADMIN_USERNAME": name,
        "ADMIN_EMAIL": f"{name}@hugmood.test",
        "ADMIN_PASSWORD": "the bootstrap pass phrase",
    }
    first = create_app(config).test_client()
    session = first.post("/api/v1/auth/login", json={"username": name, "password": "the bootstrap pass phrase"})
    assert session.status_code == 200
    changed = first.put(
        "/api/v1/auth/password",
        headers=bearer(session.json["access_token"]),
        json={"current_password": "the bootstrap pass phrase", "new_password": "an admin's own new secret"},
    )
    assert changed.status_code == 204

    restarted = create_app(config).test_client()  # what the next `make run` or deploy does
    own = restarted.post("/api/v1/auth/login", json={"username": name, "password": "an admin's own new secret"})
    assert own.status_code == 200 and "admin" in own.json["user"]["roles"]
    old = restarted.post("/api/v1/auth/login", json={"username": name, "password": "the bootstrap pass phrase"})
    assert old.status_code == 401


def test_me_has_an_etag(client):
    token = register(client)["access_token"]
    assert_etag_and_304(
        lambda path, **kw: client.get(path, headers={**bearer(token), **kw.pop("headers", {})}), "/api/v1/auth/me"
    )
