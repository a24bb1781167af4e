"""Every service runs as its own app: ops endpoints, token verification, its own database role."""

from __future__ import annotations

import importlib

import psycopg2
import pytest
from sqlalchemy import text

from shared.config import SERVICES, Config
from shared.db import role_name, schema_name, service_database_url
from shared.testing import mint_token


@pytest.fixture(scope="module", params=SERVICES)
def service_app(request, base_config, signing_key):
    module = importlib.import_module(f"services.{request.param}")
    app = module.create_app(base_config)
    keys = app.extensions["jwks"]
    keys.url = None  # verify with the test key without an auth service running
    keys.load({"keys": [signing_key.public_jwk]})
    app.service_name = request.param
    return app


def test_healthz_readyz_metrics(service_app, redis_client):
    client = service_app.test_client()
    assert client.get("/healthz").json["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"redis": "ok", "database": "ok"}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and b"hugmood_http_requests_total" in metrics.data


def test_every_path_needs_a_valid_token_whatever_identity_headers_say(service_app, redis_client):
    client = service_app.test_client()
    spoofed = {
        "X-User-ID": "00000000-0000-0000-0000-000000000001",
        "X-HugMood-Caller": "gateway",
        "X-Forwarded-User": "admin",
        "X-Roles": "admin",
    }
    for path in ("/api/v1/anything", f"/api/v1/{service_app.service_name}s", "/internal/x"):
        response = client.get(path, headers=spoofed)
        assert response.status_code == 401, path
        assert response.content_type == "application/problem+json"


def test_a_valid_token_gets_past_verification(service_app, redis_client, token_for):
    response = service_app.test_client().get(
        "/api/v1/no-such-route", headers={"Authorization": f"Bearer {token_for()}"}
    )
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_revoked_token_is_refused_at_every_service(service_app, redis_client, token_for):
    import jwt

    from shared.auth import Denylist

    token = token_for()
    Denylist(redis_client).revoke_token(jwt.decode(token, options={"verify_signature": False})["jti"])
    response = service_app.test_client().get("/api/v1/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json["code"] == "auth.token_revoked"


def test_request_id_is_echoed_or_made(service_app, redis_client):
    client = service_app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert made != "bad id with spaces" and len(made) == 32


@pytest.mark.parametrize(
    "data,content_type,status",
    [
        (b"{not json", "application/json", 400),
        (b"<x/>", "application/xml", 415),
        (b"x" * (64 * 1024 + 1), "application/json", 413),
    ],
)
def test_bad_bodies_get_problem_4xx(service_app, redis_client, token_for, data, content_type, status):
    response = service_app.test_client().post(
        "/api/v1/x", data=data, content_type=content_type, headers={"Authorization": f"Bearer {token_for()}"}
    )
    assert response.status_code == status
    assert response.content_type == "application/problem+json"


def test_service_role_is_confined_to_its_own_schema(service_app, base_config):
    name = service_app.service_name
    with service_app.app_context():
        db = service_app.extensions["sqlalchemy"]
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role_name(name)
            assert conn.execute(text("SELECT current_schema()")).scalar() == schema_name(name)
    url = service_database_url(name, Config(DATABASE_URL=base_config["DATABASE_URL"], DATABASE_ROLE_PASSWORD=""))
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        for other in SERVICES:
            if other == name:
                continue
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"SELECT * FROM {schema_name(other)}.outbox LIMIT 1")
            conn.rollback()
    finally:
        conn.close()


def test_service_token_from_another_key_is_refused(service_app, redis_client, signing_key):
    from services.auth.service import generate_private_key_pem

    forged = mint_token(generate_private_key_pem(), signing_key.kid, subject="service:user", roles=["service"])
    response = service_app.test_client().get("/api/v1/x", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_odd_methods_are_counted_as_other_not_as_new_labels(service_app, redis_client):
    client = service_app.test_client()
    for n in range(20):
        client.open("/healthz", method=f"ODD{n}")
    text = client.get("/metrics").get_data(as_text=True)
    assert "ODD" not in text and 'method="other"' in text


def test_the_service_serves_its_openapi_document_without_a_token(service_app, redis_client):
    from openapi_spec_validator import validate

    from shared.openapi import openapi_path

    response = service_app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    document = response.json
    validate(document)
    routed = {
        (method.lower(), openapi_path(rule.rule))
        for rule in service_app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == routed
    assert "/internal/v1/account/export" in document["paths"]  # the service's own document has them all


def test_a_problem_body_type_is_the_page_of_its_code(service_app, redis_client):
    body = service_app.test_client().get("/api/v1/anything").json
    assert body["type"] == f"/api/v1/problems/{body['code']}"
