"""Deleting an account, exporting it, and the auth service's erasure report."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from services.auth.models import USER_DATA, OutboxEvent, User, db
from shared.sqlstate import is_erasure_refusal
from tests.integration.auth.conftest import PASSWORD, bearer, register

DELETE = "/api/v1/auth/account"


@pytest.fixture
def admin_headers(token_for):
    return bearer(token_for(str(uuid.uuid4()), roles=["user", "admin"]))


def delete(client, token, body=None, **kwargs):
    return client.delete(DELETE, json={"password": PASSWORD} if body is None else body, headers=bearer(token), **kwargs)


def test_delete_needs_the_password(client):
    session = register(client)
    wrong = delete(client, session["access_token"], {"password": "not my password"})
    assert wrong.status_code == 403 and wrong.content_type == "application/problem+json"
    assert client.get("/api/v1/auth/me", headers=bearer(session["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"password": ""}, {"password": 12}, {"password": "x" * 1025}, {"password": PASSWORD, "user_id": "x"}, []],
)
def test_delete_rejects_bad_bodies(client, body):
    session = register(client)
    response = delete(client, session["access_token"], body)
    assert response.status_code in (400, 422) and response.content_type == "application/problem+json"
    assert db.session.execute(select(User).where(User.username == "alice")).scalar_one_or_none() is not None


def test_delete_needs_a_token(client):
    register(client)
    assert client.delete(DELETE, json={"password": PASSWORD}).status_code == 401


def test_deleted_account_is_gone_at_once(client):
    session = register(client)
    user_id = session["user"]["id"]
    response = delete(client, session["access_token"])
    assert response.status_code == 202
    assert response.json == {"user_id": user_id, "status": "deleting"}
    # Every token stops working: the access token here, the refresh token, and a new login.
    me = client.get("/api/v1/auth/me", headers=bearer(session["access_token"]))
    assert me.status_code == 401 and me.json["code"] == "auth.token_revoked"
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401
    login = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    # The name is free again, for someone else.
    assert register(client)["user"]["id"] != user_id


def test_delete_publishes_user_deleted_with_the_id_only(client):
    user_id = register(client)["user"]["id"]
    session = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).json
    assert delete(client, session["access_token"]).status_code == 202
    events = db.session.execute(select(OutboxEvent)).scalars().all()
    naming = [e for e in events if user_id in str(e.payload)]
    # UserRegistered (with the username) is erased; only the UserDeleted to be sent remains.
    assert [(e.event_type, e.payload["data"]) for e in naming] == [("UserDeleted", {"user_id": user_id})]


def test_erasure_report_counts_until_the_event_is_delivered(client, admin_headers):
    session = register(client)
    user_id = session["user"]["id"]
    before = client.get(f"/internal/v1/erasures/{user_id}", headers=admin_headers).json
    assert before["erased"] is False
    assert before["rows"]["users"] == 1 and before["rows"]["token_families"] == 1 and before["total"] >= 3
    assert delete(client, session["access_token"]).status_code == 202
    after = client.get(f"/internal/v1/erasures/{user_id}", headers=admin_headers).json
    assert after["erased"] is True
    assert {table: n for table, n in after["rows"].items() if n} == {"outbox": 1}
    # Once every consumer is done the relay's ledger forgets the UserDeleted row (tested with the
    # ledger); simulate that here: nothing else names the user.
    db.session.execute(text("DELETE FROM auth.outbox WHERE event_type = 'UserDeleted'"))
    assert client.get(f"/internal/v1/erasures/{user_id}", headers=admin_headers).json["total"] == 0


def test_erasure_report_is_for_admins_only(client):
    session = register(client)
    user_id = session["user"]["id"]
    response = client.get(f"/internal/v1/erasures/{user_id}", headers=bearer(session["access_token"]))
    assert response.status_code == 403
    assert client.get(f"/internal/v1/erasures/{user_id}").status_code == 401


def test_erasure_report_rejects_malformed_ids(client, admin_headers):
    for bad in ("not-a-uuid", "1234", "%27%20OR%201=1"):
        response = client.get(f"/internal/v1/erasures/{bad}", headers=admin_headers)
        assert response.status_code == 404 and response.content_type == "application/problem+json"


def test_delete_drops_the_users_redis_keys(client, redis_client):
    session = register(client)
    user_id = session["user"]["id"]
    redis_client.set(f"hm:deny:ver:{user_id}", 0)  # a role-change mark that refuses none of its tokens
    for login, ip in (("alice", "10.0.0.1"), ("alice@example.com", "10.0.0.2")):
        body = {"username": login, "password": "not the password"}
        assert client.post("/api/v1/auth/login", json=body, headers={"X-Real-IP": ip}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    assert len(list(redis_client.scan_iter("hm:login:fail:*"))) == 3  # per address twice, per account
    assert list(redis_client.scan_iter("hm:login:known:*"))
    assert delete(client, session["access_token"]).status_code == 202
    assert list(redis_client.scan_iter(f"*{user_id}*")) == []
    assert list(redis_client.scan_iter("hm:login:fail:*")) == []


def test_a_login_in_flight_cannot_recreate_rows_for_a_deleted_user(client):
    session = register(client)
    user_id = session["user"]["id"]
    assert delete(client, session["access_token"]).status_code == 202
    with pytest.raises(Exception) as raised:
        db.session.execute(
            text("INSERT INTO auth.token_families (id, user_id) VALUES (:id, :user)"),
            {"id": uuid.uuid4(), "user": user_id},
        )
    assert is_erasure_refusal(raised.value)
    db.session.rollback()
    assert USER_DATA.is_erased(db.session, user_id)


def test_export_holds_the_account_and_nothing_secret(client):
    session = register(client)
    register(client, "bob")
    client.post("/api/v1/auth/password/reset", json={"email": "alice@example.com"})
    response = client.get("/internal/v1/account/export", headers=bearer(session["access_token"]))
    assert response.status_code == 200
    body = response.json
    assert body["account"]["username"] == "alice" and body["account"]["email"] == "alice@example.com"
    assert body["account"]["has_password"] is True
    assert len(body["sessions"]) == 1 and len(body["password_resets"]) == 1
    flat = str(body)
    assert "argon2" not in flat and "bob" not in flat and "token_hash" not in flat


def test_export_needs_a_user_token(client, token_for):
    assert client.get("/internal/v1/account/export").status_code == 401
    service = client.get("/internal/v1/account/export", headers=bearer(token_for("service:hug", roles=["service"])))
    assert service.status_code == 403
