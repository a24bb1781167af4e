"""Refresh rotation, reuse detection, logout, password change and reset, roles, the token endpoint."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select, update

from services.auth.models import OutboxEvent, PasswordResetToken, db
from tests.integration.auth.conftest import ADMIN, PASSWORD, bearer, register


def login(client, name="alice", password=PASSWORD):
    response = client.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert response.status_code == 200, response.json
    return response.json


def refresh(client, token):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_and_old_token_stops_working(client):
    first = register(client)
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(second.json["access_token"])).status_code == 200
    third = refresh(client, second.json["refresh_token"])
    assert third.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client):
    first = register(client)
    second = refresh(client, first["refresh_token"]).json
    reuse = refresh(client, first["refresh_token"])
    assert reuse.status_code == 401 and reuse.json["code"] == "auth.invalid_refresh_token"
    # Every token of that login is dead: the newest refresh token and the live access tokens.
    assert refresh(client, second["refresh_token"]).status_code == 401
    for access in (first["access_token"], second["access_token"]):
        response = client.get("/api/v1/auth/me", headers=bearer(access))
        assert response.status_code == 401 and response.json["code"] == "auth.token_revoked"


def test_reuse_in_one_family_leaves_other_logins_alone(client):
    first = register(client)
    other = login(client)
    refresh(client, first["refresh_token"])
    refresh(client, first["refresh_token"])
    assert client.get("/api/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": "x", "more": 1}])
def test_refresh_bad_input_gets_422(client, body):
    assert client.post("/api/v1/auth/refresh", json=body).status_code == 422


def test_unknown_refresh_token_gets_401(client):
    assert refresh(client, "not-a-real-token").status_code == 401


def test_logout_revokes_access_token_and_family(client):
    session = register(client)
    other = login(client)
    assert client.post("/api/v1/auth/logout", headers=bearer(session["access_token"])).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(session["access_token"])).status_code == 401
    assert refresh(client, session["refresh_token"]).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_logout_without_token_gets_401(client):
    assert client.post("/api/v1/auth/logout").status_code == 401


def test_password_change_revokes_other_sessions_but_not_this_one(client):
    mine = register(client)
    other = login(client)
    response = client.put(
        "/api/v1/auth/password",
        headers=bearer(mine["access_token"]),
        json={"current_password": PASSWORD, "new_password": "a new gentle breeze"},
    )
    assert response.status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(mine["access_token"])).status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(other["access_token"])).status_code == 401
    assert refresh(client, other["refresh_token"]).status_code == 401
    assert refresh(client, mine["refresh_token"]).status_code == 200
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    login(client, password="a new gentle breeze")


@pytest.mark.parametrize(
    "body,status",
    [
        ({"current_password": "wrong one!", "new_password": "a new gentle breeze"}, 403),
        ({"current_password": PASSWORD, "new_password": "short"}, 422),
        ({"current_password": PASSWORD, "new_password": "qwertyuiop"}, 422),
        ({"current_password": PASSWORD}, 422),
        ({"current_password": PASSWORD, "new_password": "a new gentle breeze", "x": 1}, 422),
    ],
)
def test_password_change_bad_input(client, body, status):
    token = register(client)["access_token"]
    assert client.put("/api/v1/auth/password", headers=bearer(token), json=body).status_code == status


def _reset_tokens(user_id):
    events = (
        db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == "PasswordResetRequested"))
        .scalars()
        .all()
    )
    return [e.payload["data"]["token"] for e in events if e.payload["data"]["user_id"] == user_id]


def test_reset_request_answers_202_for_known_and_unknown_addresses(client):
    user_id = register(client)["user"]["id"]
    known = client.post("/api/v1/auth/password/reset", json={"email": "alice@example.com"})
    unknown = client.post("/api/v1/auth/password/reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.data == unknown.data == b""
    assert len(_reset_tokens(user_id)) == 1


def test_reset_confirm_sets_password_revokes_sessions_and_is_single_use(client):
    session = register(client)
    client.post("/api/v1/auth/password/reset", json={"email": "ALICE@example.com"})
    (token,) = _reset_tokens(session["user"]["id"])
    stored = db.session.execute(select(PasswordResetToken.token_hash)).scalars().all()
    assert token not in stored
    confirm = client.post("/api/v1/auth/password/reset/confirm", json={"token": token, "password": "river stones 42"})
    assert confirm.status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(session["access_token"])).status_code == 401
    assert refresh(client, session["refresh_token"]).status_code == 401
    login(client, password="river stones 42")
    again = client.post("/api/v1/auth/password/reset/confirm", json={"token": token, "password": "another river 43"})
    assert again.status_code == 422 and "token" in again.json["errors"]


def test_expired_reset_token_is_refused(client):
    user_id = register(client)["user"]["id"]
    client.post("/api/v1/auth/password/reset", json={"email": "alice@example.com"})
    (token,) = _reset_tokens(user_id)
    db.session.execute(update(PasswordResetToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    response = client.post("/api/v1/auth/password/reset/confirm", json={"token": token, "password": "river stones 42"})
    assert response.status_code == 422


def test_a_new_reset_request_invalidates_the_previous_token(client):
    user_id = register(client)["user"]["id"]
    client.post("/api/v1/auth/password/reset", json={"email": "alice@example.com"})
    client.post("/api/v1/auth/password/reset", json={"email": "alice@example.com"})
    old, new = _reset_tokens(user_id)
    assert (
        client.post(
            "/api/v1/auth/password/reset/confirm", json={"token": old, "password": "river stones 42"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/auth/password/reset/confirm", json={"token": new, "password": "river stones 42"}
        ).status_code
        == 204
    )


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/v1/auth/password/reset", {}),
        ("/api/v1/auth/password/reset", {"email": "nope"}),
        ("/api/v1/auth/password/reset/confirm", {"token": "t"}),
        ("/api/v1/auth/password/reset/confirm", {"token": "t", "password": "123456789"}),
    ],
)
def test_reset_bad_input_gets_422(client, path, body):
    assert client.post(path, json=body).status_code == 422


def _admin_token(client):
    return login(client, ADMIN["ADMIN_USERNAME"], ADMIN["ADMIN_PASSWORD"])["access_token"]


def test_admin_assigns_roles_and_old_tokens_must_refresh(client):
    session = register(client)
    user_id = session["user"]["id"]
    response = client.put(
        f"/api/v1/auth/users/{user_id}/roles", headers=bearer(_admin_token(client)), json={"roles": ["admin"]}
    )
    assert response.status_code == 200 and response.json["roles"] == ["admin", "user"]
    assert client.get("/api/v1/auth/me", headers=bearer(session["access_token"])).status_code == 401
    fresh = refresh(client, session["refresh_token"]).json
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["roles"] == ["admin", "user"]


def test_admin_grants_the_editor_role_and_an_unknown_role_is_422(client):
    admin = bearer(_admin_token(client))
    session = register(client)
    path = f"/api/v1/auth/users/{session['user']['id']}/roles"
    assert client.put(path, headers=admin, json={"roles": ["curator"]}).status_code == 422
    response = client.put(path, headers=admin, json={"roles": ["editor"]})
    assert response.status_code == 200 and response.json["roles"] == ["editor", "user"]
    fresh = refresh(client, session["refresh_token"]).json
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["roles"] == ["editor", "user"]
    assert client.put(path, headers=bearer(fresh["access_token"]), json={"roles": ["admin"]}).status_code == 403


def test_a_token_from_the_same_second_as_a_demotion_cannot_re_promote(client):
    """The race: an admin token signed in the same second as its holder's demotion. Revocation by
    a second-precision iat let it through, and its holder could make itself admin again."""
    admin = bearer(_admin_token(client))
    bob = register(client, "bob")
    bob_id = bob["user"]["id"]
    assert client.put(f"/api/v1/auth/users/{bob_id}/roles", headers=admin, json={"roles": ["admin"]}).status_code == 200
    for _ in range(5):
        while time.time() % 1 > 0.2:  # start early in a second, so both land in it
            time.sleep(0.01)
        second = int(time.time())
        bob_admin = login(client, "bob")["access_token"]
        demoted = client.put(f"/api/v1/auth/users/{bob_id}/roles", headers=admin, json={"roles": []})
        if int(time.time()) == second:
            break
    else:
        pytest.skip("could not sign a token and demote in the same second")
    assert demoted.status_code == 200 and demoted.json["roles"] == ["user"]
    assert jwt.decode(bob_admin, options={"verify_signature": False})["iat"] == second
    again = client.put("/api/v1/auth/users/me/roles", headers=bearer(bob_admin), json={"roles": ["admin"]})
    assert again.status_code == 401 and again.json["code"] == "auth.token_revoked"
    assert client.get("/api/v1/auth/me", headers=bearer(bob_admin)).status_code == 401
    fresh = login(client, "bob")["access_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(fresh)).status_code == 200, "a new login works at once"
    refused = client.put("/api/v1/auth/users/me/roles", headers=bearer(fresh), json={"roles": ["admin"]})
    assert refused.status_code == 403


def test_non_admin_cannot_assign_roles(client):
    session = register(client)
    response = client.put(
        f"/api/v1/auth/users/{session['user']['id']}/roles",
        headers=bearer(session["access_token"]),
        json={"roles": ["admin"]},
    )
    assert response.status_code == 403


@pytest.mark.parametrize("body", [{"roles": ["superuser"]}, {"roles": "admin"}, {}, {"roles": ["admin"], "x": 1}])
def test_roles_bad_input_gets_422(client, body):
    register(client)
    user_id = login(client)["user"]["id"]
    response = client.put(f"/api/v1/auth/users/{user_id}/roles", headers=bearer(_admin_token(client)), json=body)
    assert response.status_code == 422


@pytest.mark.parametrize("user_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_roles_for_unknown_user_gets_404(client, user_id):
    response = client.put(
        f"/api/v1/auth/users/{user_id}/roles", headers=bearer(_admin_token(client)), json={"roles": ["admin"]}
    )
    assert response.status_code == 404


def test_jwks_publishes_the_public_key_only(client, signing_key):
    keys = client.get("/api/v1/auth/jwks").json["keys"]
    assert keys == [signing_key.public_jwk]
    assert "d" not in keys[0] and keys[0]["kid"] == signing_key.kid


# ---- the OAuth 2.0 token endpoint --------------------------------------------------------------


def test_token_password_grant_form_encoded(client):
    register(client)
    response = client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert set(response.json) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert response.headers["Cache-Control"] == "no-store"


def test_token_refresh_grant_json(client):
    first = register(client)
    response = client.post(
        "/api/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200 and response.json["token_type"] == "Bearer"


@pytest.mark.parametrize(
    "body,error,status",
    [
        ({"grant_type": "password", "username": "alice", "password": "wrong password"}, "invalid_grant", 400),
        ({"grant_type": "password", "username": "alice"}, "invalid_request", 400),
        ({"grant_type": "refresh_token", "refresh_token": "bogus"}, "invalid_grant", 400),
        ({"grant_type": "refresh_token"}, "invalid_request", 400),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type", 400),
        ({}, "invalid_request", 400),
        ({"grant_type": "client_credentials", "client_id": "mood", "client_secret": "wrong"}, "invalid_client", 401),
    ],
)
def test_token_errors_are_rfc6749_shaped(client, body, error, status):
    register(client)
    response = client.post("/api/v1/auth/token", data=body)
    assert response.status_code == status
    assert response.json["error"] == error and "error_description" in response.json


def test_client_credentials_give_a_service_identity(client, auth_app):
    basic = base64.b64encode(b"mood:dev-service-secret").decode()
    response = client.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200 and "refresh_token" not in response.json
    claims = jwt.decode(response.json["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "service:mood" and claims["roles"] == ["service"]
    # A service identity is not a user: user-only endpoints refuse it.
    assert client.get("/api/v1/auth/me", headers=bearer(response.json["access_token"])).status_code == 403


def _service_token(client, name="user"):
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": name, "client_secret": "dev-service-secret"},
    )
    return response.json["access_token"]


def test_internal_user_lookup_is_for_services_only(client):
    session = register(client)
    path = f"/internal/v1/auth/users/{session['user']['id']}"
    as_user = client.get(path, headers=bearer(session["access_token"]))
    assert as_user.status_code == 403
    as_service = client.get(path, headers=bearer(_service_token(client)))
    assert as_service.status_code == 200
    assert as_service.json == {
        "id": session["user"]["id"],
        "username": "alice",
        "created_at": session["user"]["created_at"],
    }
    assert client.get("/internal/v1/auth/users/not-a-uuid", headers=bearer(_service_token(client))).status_code == 404
    assert client.get(path).status_code == 401


def test_contact_lookup_is_for_the_notification_service_only(client):
    session = register(client)
    path = f"/internal/v1/auth/users/{session['user']['id']}/contact"
    as_notification = client.get(path, headers=bearer(_service_token(client, "notification")))
    assert as_notification.status_code == 200 and as_notification.json == {
        "email": "alice@example.com",
        "verified": False,
    }
    admin = login(client, ADMIN["ADMIN_USERNAME"], ADMIN["ADMIN_PASSWORD"])["access_token"]
    for token in (session["access_token"], admin, _service_token(client, "user"), _service_token(client, "social")):
        refused = client.get(path, headers=bearer(token))
        assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    anonymous = client.get(path)
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"


@pytest.mark.parametrize("user_id", ["not-a-uuid", "0" * 300, "%2e%2e", "never-registered", "deleted"])
def test_contact_lookup_of_a_malformed_unknown_or_deleted_user_is_404(client, user_id):
    session = register(client)
    if user_id == "never-registered":
        user_id = str(uuid.uuid4())
    if user_id == "deleted":
        user_id = session["user"]["id"]
        deleted = client.delete(
            "/api/v1/auth/account", json={"password": PASSWORD}, headers=bearer(session["access_token"])
        )
        assert deleted.status_code == 202
    response = client.get(
        f"/internal/v1/auth/users/{user_id}/contact", headers=bearer(_service_token(client, "notification"))
    )
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.json["code"] == "auth.user_not_found"
