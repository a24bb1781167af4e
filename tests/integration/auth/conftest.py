from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.auth import create_app
from services.auth.models import db
from shared.testing import rolled_back

ADMIN = {"ADMIN_USERNAME": "root_admin", "ADMIN_EMAIL": "root@hugmood.test", "ADMIN_PASSWORD": "admin pass phrase 1"}


@pytest.fixture(scope="session")
def auth_app(base_config: dict[str, Any]) -> Flask:
    return create_app({**base_config, **ADMIN})


@pytest.fixture
def client(auth_app: Flask, redis_client) -> Iterator[FlaskClient]:
    with auth_app.app_context(), rolled_back(db):
        yield auth_app.test_client()


PASSWORD = "a calm blue ocean"


def register(client: FlaskClient, name: str = "alice", password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password, **extra}
    )
    assert response.status_code == 201, response.json
    return response.json


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
