from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.mood import create_app, tasks
from services.mood.models import db
from shared.testing import rolled_back
from tests.integration import people


@pytest.fixture(scope="session")
def mood_app(service_config: dict[str, Any], user_server: str) -> Flask:
    return create_app({**service_config, "USER_URL": user_server})


@pytest.fixture
def refreshes(monkeypatch) -> list[tuple[str, int]]:
    """The insight refreshes the consumers ask for, (user id, delay), instead of sending them."""
    asked: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks, "enqueue_refresh", lambda user_id, delay: asked.append((user_id, delay)))
    return asked


@pytest.fixture
def client(mood_app: Flask, redis_client, worker_app, refreshes) -> Iterator[FlaskClient]:
    worker_app(tasks, mood_app)
    with mood_app.app_context(), rolled_back(db):
        yield mood_app.test_client()


class Person(people.Person):
    """A registered user of the mood service."""

    def record(self, **fields: Any) -> dict[str, Any]:
        response = self.post("/api/v1/moods", json={"mood": "calm", "intensity": 0.5, **fields})
        assert response.status_code == 201, response.json
        return response.json


@pytest.fixture
def person(client, make_user, user_server, redis_client):
    def new() -> Person:
        return Person(client, user_server, *make_user())

    return new
