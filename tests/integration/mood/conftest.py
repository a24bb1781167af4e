from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from services.mood import create_app
from services.mood.models import db
from shared.testing import rolled_back


@pytest.fixture(scope="session")
def mood_app(service_config: dict[str, Any], user_server: str) -> Flask:
    return create_app({**service_config, "USER_URL": user_server})


@pytest.fixture
def client(mood_app: Flask, redis_client) -> Iterator[FlaskClient]:
    with mood_app.app_context(), rolled_back(db):
        yield mood_app.test_client()


class Person:
    """A registered user: requests to the mood service, and settings through the real user service."""

    def __init__(self, client: FlaskClient, user_server: str, user_id: str, token: str, username: str):
        self.client, self.user_server = client, user_server
        self.id, self.token, self.username = user_id, token, username
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kw: Any):
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, **kw: Any):
        return self.client.post(path, headers=self.headers, **kw)

    def put(self, path: str, **kw: Any):
        return self.client.put(path, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any):
        return self.client.delete(path, headers=self.headers, **kw)

    def record(self, **fields: Any) -> dict[str, Any]:
        response = self.post("/api/v1/moods", json={"mood": "calm", "intensity": 0.5, **fields})
        assert response.status_code == 201, response.json
        return response.json

    def users(self, method: str, path: str, **kw: Any) -> requests.Response:
        response = requests.request(method, self.user_server + path, headers=self.headers, timeout=5, **kw)
        assert response.status_code < 300, response.text
        return response

    def set_privacy(self, **settings: Any) -> None:
        self.users("PUT", "/api/v1/users/me/privacy", json=settings)

    def set_timezone(self, zone: str) -> None:
        self.users("PUT", "/api/v1/users/me", json={"timezone": zone})

    def befriend(self, other: Person) -> None:
        self.users("POST", f"/api/v1/users/{other.id}/friends")
        other.users("PUT", f"/api/v1/users/me/friends/{self.id}", json={"status": "accepted"})


@pytest.fixture
def person(client, make_user, user_server, redis_client):
    def new() -> Person:
        return Person(client, user_server, *make_user())

    return new
