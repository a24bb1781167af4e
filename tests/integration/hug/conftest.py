from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, or_, select, text

from services.hug import create_app, tasks
from services.hug.models import GroupHug, Hug, HugRequest, OutboxEvent, db
from shared.testing import rolled_back
from tests.integration import people


@pytest.fixture(scope="session")
def hug_app(service_config: dict[str, Any], user_server: str) -> Flask:
    return create_app({**service_config, "USER_URL": user_server})


@pytest.fixture(scope="session")
def flood_app(service_config: dict[str, Any], user_server: str) -> Flask:
    """The hug service with flood limits of 2 hugs, 2 hug requests and 2 group invites per pair per minute."""
    return create_app(
        {
            **service_config,
            "USER_URL": user_server,
            "HUG_FLOOD_LIMIT": "2",
            "HUG_REQUEST_FLOOD_LIMIT": "2",
            "GROUP_INVITE_FLOOD_LIMIT": "2",
            "HUG_FLOOD_WINDOW_SECONDS": "60",
        }
    )


@pytest.fixture(scope="session")
def orphan_app(service_config: dict[str, Any]) -> Flask:
    """The hug service with its user service unreachable."""
    return create_app({**service_config, "USER_URL": "http://127.0.0.1:9"})


@pytest.fixture
def client(hug_app: Flask, redis_client, worker_app) -> Iterator[FlaskClient]:
    worker_app(tasks, hug_app)
    with hug_app.app_context(), rolled_back(db):
        yield hug_app.test_client()


class Person(people.Person):
    """A registered user of the hug service."""

    def hug(self, other: Person, **fields: Any) -> dict[str, Any]:
        response = self.post("/api/v1/hugs", json={"recipient_id": other.id, "type": "warm", **fields})
        assert response.status_code == 201, response.json
        return response.json

    def ask(self, other: Person | None = None, **fields: Any) -> dict[str, Any]:
        body = {"recipient_id": other.id, **fields} if other else fields
        response = self.post("/api/v1/hugs/request", json=body)
        assert response.status_code == 201, response.json
        return response.json

    def open_hugs(self) -> None:
        self.set_privacy(allow_hugs_from="anyone")


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
