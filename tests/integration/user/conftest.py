from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.user import create_app, tasks
from services.user.models import db
from shared.testing import rolled_back


@pytest.fixture(scope="session")
def user_app(service_config: dict[str, Any]) -> Flask:
    return create_app(service_config)


@pytest.fixture
def client(user_app: Flask, redis_client, worker_app) -> Iterator[FlaskClient]:
    worker_app(tasks, user_app)
    with user_app.app_context(), rolled_back(db):
        yield user_app.test_client()


class Person:
    """A registered user and the requests they make to the user service."""

    def __init__(self, client: FlaskClient, user_id: str, token: str, username: str):
        self.client, self.id, self.token, self.username = client, user_id, token, username

    def _h(self, kw: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}

    def get(self, path: str, **kw: Any):
        return self.client.get(path, headers=self._h(kw), **kw)

    def put(self, path: str, **kw: Any):
        return self.client.put(path, headers=self._h(kw), **kw)

    def post(self, path: str, **kw: Any):
        return self.client.post(path, headers=self._h(kw), **kw)

    def delete(self, path: str, **kw: Any):
        return self.client.delete(path, headers=self._h(kw), **kw)


@pytest.fixture
def person(client, make_user):
    def new(name: str | None = None) -> Person:
        return Person(client, *make_user(name))

    return new
