from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, or_, select, text

from services.hug import create_app
from services.hug.models import GroupHug, Hug, HugRequest, OutboxEvent, db
from shared.testing import rolled_back


@pytest.fixture(scope="session")
def hug_app(service_config: dict[str, Any], user_server: str) -> Flask:
    return create_app({**service_config, "USER_URL": user_server})


@pytest.fixture(scope="session")
def flood_app(service_config: dict[str, Any], user_server: str) -> Flask:
    """The hug service with a flood limit of 2 hugs per pair per minute."""
    return create_app(
        {**service_config, "USER_URL": user_server, "HUG_FLOOD_LIMIT": "2", "HUG_FLOOD_WINDOW_SECONDS": "60"}
    )


@pytest.fixture(scope="session")
def orphan_app(service_config: dict[str, Any]) -> Flask:
    """The hug service with its user service unreachable."""
    return create_app({**service_config, "USER_URL": "http://127.0.0.1:9"})


@pytest.fixture
def client(hug_app: Flask, redis_client) -> Iterator[FlaskClient]:
    with hug_app.app_context(), rolled_back(db):
        yield hug_app.test_client()


class Person:
    """A registered user: requests to the hug service, and settings through the real user service."""

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

    def hug(self, other: Person, **fields: Any) -> dict[str, Any]:
        response = self.post("/api/v1/hugs", json={"recipient_id": other.id, "type": "warm", **fields})
        assert response.status_code == 201, response.json
        return response.json

    def ask(self, other: Person | None = None, **fields: Any) -> dict[str, Any]:
        body = {"recipient_id": other.id, **fields} if other else fields
        response = self.post("/api/v1/hugs/request", json=body)
        assert response.status_code == 201, response.json
        return response.json

    def users(self, method: str, path: str, **kw: Any) -> requests.Response:
        response = requests.request(method, self.user_server + path, headers=self.headers, timeout=5, **kw)
        assert response.status_code < 300, response.text
        return response

    def set_privacy(self, **settings: Any) -> None:
        self.users("PUT", "/api/v1/users/me/privacy", json=settings)

    def open_hugs(self) -> None:
        self.set_privacy(allow_hugs_from="anyone")

    def befriend(self, other: Person) -> None:
        self.users("POST", f"/api/v1/users/{other.id}/friends")
        other.users("PUT", f"/api/v1/users/me/friends/{self.id}", json={"status": "accepted"})

    def block(self, other: Person) -> None:
        self.users("PUT", f"/api/v1/users/me/friends/{other.id}", json={"status": "blocked"})


@pytest.fixture
def person(client, make_user, user_server, redis_client):
    def new() -> Person:
        return Person(client, user_server, *make_user())

    return new


@pytest.fixture
def events():
    """The outbox rows of this test's transaction, optionally of one type."""

    def of(event_type: str | None = None) -> list[dict[str, Any]]:
        query = select(OutboxEvent).order_by(OutboxEvent.created_at)
        if event_type:
            query = query.where(OutboxEvent.event_type == event_type)
        return [e.payload for e in db.session.execute(query).scalars()]

    return of


@pytest.fixture
def live(hug_app: Flask, make_user, user_server, redis_client) -> Iterator[Any]:
    """Really committed work (for races between sessions); this test's rows are deleted afterwards."""
    made: list[Person] = []

    def new() -> Person:
        made.append(Person(hug_app.test_client(), user_server, *make_user()))
        return made[-1]

    yield new
    ids = [p.id for p in made]
    with hug_app.app_context():
        db.session.execute(delete(Hug).where(or_(Hug.sender_id.in_(ids), Hug.recipient_id.in_(ids))))
        db.session.execute(delete(HugRequest).where(HugRequest.requester_id.in_(ids)))
        db.session.execute(delete(GroupHug).where(GroupHug.creator_id.in_(ids)))
        for user_id in ids:
            db.session.execute(
                text("DELETE FROM hugs.outbox WHERE payload::text LIKE :pattern"), {"pattern": f"%{user_id}%"}
            )
        db.session.commit()


@pytest.fixture
def person_on(make_user, user_server):
    """People talking to another hug app (e.g. one with other settings)."""

    def new(client: FlaskClient) -> Person:
        return Person(client, user_server, *make_user())

    return new
