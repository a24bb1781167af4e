from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text

from services.social import create_app, tasks
from services.social.models import db
from shared.testing import rolled_back, serve_wsgi

CONSUMERS = {
    "FriendshipAccepted": tasks.on_friendship_accepted,
    "FriendshipEnded": tasks.on_friendship_ended,
    "UserBlocked": tasks.on_user_blocked,
    "UserUnblocked": tasks.on_user_unblocked,
    "FriendRequested": tasks.on_friend_requested,
    "FriendRequestClosed": tasks.on_friend_request_closed,
    "MoodRecorded": tasks.on_mood_written,
    "MoodUpdated": tasks.on_mood_written,
    "MoodDeleted": tasks.on_mood_deleted,
    "PrivacyChanged": tasks.on_privacy_changed,
    "HugSent": tasks.on_hug_sent,
    "StreakMilestone": tasks.on_streak_milestone,
    "UserDeleted": tasks.on_user_deleted,
}

SHARE = "/api/v1/social/share"
SHARED = "/api/v1/social/shared/"
PUBLIC_BASE = "http://localhost:4000" + SHARED


@pytest.fixture(scope="session")
def mood_server(service_config: dict[str, Any], user_server: str) -> Iterator[str]:
    """The real mood service over real HTTP, for shares of moods."""
    from services.mood import create_app as create_mood_app

    yield from serve_wsgi(create_mood_app({**service_config, "USER_URL": user_server}))


@pytest.fixture(scope="session")
def hug_server(service_config: dict[str, Any], user_server: str) -> Iterator[str]:
    """The real hug service over real HTTP, for shares of hugs."""
    from services.hug import create_app as create_hug_app

    yield from serve_wsgi(create_hug_app({**service_config, "USER_URL": user_server}))


@pytest.fixture(scope="session")
def social_app(service_config: dict[str, Any], user_server: str, mood_server: str, hug_server: str) -> Flask:
    return create_app({**service_config, "USER_URL": user_server, "MOOD_URL": mood_server, "HUG_URL": hug_server})


@pytest.fixture(scope="session")
def moodless_app(service_config: dict[str, Any], user_server: str) -> Flask:
    """The social service with its mood service unreachable."""
    return create_app({**service_config, "USER_URL": user_server, "MOOD_URL": "http://127.0.0.1:9"})


@pytest.fixture
def client(social_app: Flask, redis_client, worker_app) -> Iterator[FlaskClient]:
    worker_app(tasks, social_app)
    with social_app.app_context(), rolled_back(db):
        yield social_app.test_client()


def event(kind: str, at: datetime | None = None, **data: Any) -> dict[str, Any]:
    """A synthetic event as the relay delivers it."""
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "data": {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in data.items()},
    }


def deliver(evt: dict[str, Any]) -> None:
    CONSUMERS[evt["type"]](evt)


class Viewer:
    """A caller of the social service (a token for an id); the graph is fed with synthetic events."""

    def __init__(self, client: FlaskClient, user_id: str, token: str):
        self.client, self.id = client, user_id
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kw: Any):
        return self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any):
        return self.client.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, **kw: Any):
        return self.client.delete(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def share(self, visibility: str = "public", **fields: Any) -> dict[str, Any]:
        response = self.post("/api/v1/social/activities", json={"type": "note", "visibility": visibility, **fields})
        assert response.status_code == 201, response.json
        return response.json

    def feed(self, path: str = "/api/v1/social/feed") -> list[str]:
        response = self.get(path)
        assert response.status_code == 200, response.json
        return [a["id"] for a in response.json["items"]]

    def befriend(self, other: Viewer) -> None:
        deliver(event("FriendshipAccepted", user_id=self.id, friend_id=other.id))

    def unfriend(self, other: Viewer) -> None:
        deliver(event("FriendshipEnded", user_id=self.id, other_id=other.id, reason="unfriended"))

    def block(self, other: Viewer) -> None:
        deliver(event("UserBlocked", blocker_id=self.id, blocked_id=other.id))


@pytest.fixture
def viewer(client, token_for):
    def new() -> Viewer:
        user_id = str(uuid.uuid4())
        return Viewer(client, user_id, token_for(user_id))

    return new


@pytest.fixture
def member(client, make_user, user_server):
    """A real account, whose privacy settings live in the real user service."""

    def new() -> Viewer:
        user_id, token, _ = make_user()
        person = Viewer(client, user_id, token)

        def set_privacy(**settings: Any) -> None:
            response = requests.put(
                f"{user_server}/api/v1/users/me/privacy", json=settings, headers=person.headers, timeout=5
            )
            assert response.status_code == 200, response.text

        person.set_privacy = set_privacy  # type: ignore[attr-defined]
        return person

    return new


def call(method: str, url: str, person: Viewer, **kw: Any) -> requests.Response:
    response = requests.request(method, url, headers=person.headers, timeout=5, **kw)
    assert response.status_code < 300, response.text
    return response


@pytest.fixture
def committed(database_url: str) -> Iterator[list[str]]:
    """Ids of users whose moods and hugs the real services committed; deleted after the test,
    outbox rows included, so other services' tests never see them."""
    user_ids: list[str] = []
    yield user_ids
    if not user_ids:
        return
    engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg2"))
    with engine.begin() as conn:
        ids = [uuid.UUID(u) for u in user_ids]
        conn.execute(text("DELETE FROM moods.mood_entries WHERE user_id = ANY(:ids)"), {"ids": ids})
        conn.execute(
            text("DELETE FROM hugs.hugs WHERE sender_id = ANY(:ids) OR recipient_id = ANY(:ids)"), {"ids": ids}
        )
        for schema in ("moods", "hugs"):
            for user_id in user_ids:
                conn.execute(
                    text(f"DELETE FROM {schema}.outbox WHERE payload::text LIKE :pattern"), {"pattern": f"%{user_id}%"}
                )
    engine.dispose()


@pytest.fixture
def moods(mood_server, committed):
    """Record and change moods through the real mood service."""

    class Moods:
        def record(self, person: Viewer, **fields: Any) -> dict[str, Any]:
            committed.append(person.id)
            body = {"mood": "calm", "intensity": 0.7, "note": "a private note", "tags": ["sea"], **fields}
            return call("POST", f"{mood_server}/api/v1/moods", person, json=body).json()

        def change(self, person: Viewer, mood_id: str, **fields: Any) -> None:
            call("PUT", f"{mood_server}/api/v1/moods/{mood_id}", person, json=fields)

        def delete(self, person: Viewer, mood_id: str) -> None:
            call("DELETE", f"{mood_server}/api/v1/moods/{mood_id}", person)

    return Moods()


@pytest.fixture
def hug(hug_server, committed):
    """Send a hug through the real hug service (the recipient accepts hugs from anyone)."""

    def send(sender: Viewer, recipient: Viewer) -> dict[str, Any]:
        committed.extend((sender.id, recipient.id))
        recipient.set_privacy(allow_hugs_from="anyone")
        body = {"recipient_id": recipient.id, "type": "warm", "message": "for your eyes only"}
        return call("POST", f"{hug_server}/api/v1/hugs", sender, json=body).json()

    return send


def share(person: Viewer, content_type: str, content_id: str, platform: str = "twitter", status: int = 201):
    response = person.post(SHARE, json={"content_type": content_type, "content_id": content_id, "platform": platform})
    assert response.status_code == status, response.json
    return response.json


def view(client, share_url: str):
    """Open a share_url anonymously (no Authorization header)."""
    assert share_url.startswith(PUBLIC_BASE)
    return client.get(SHARED + share_url[len(PUBLIC_BASE) :])


def assert_gone(client, share_url: str) -> None:
    response = view(client, share_url)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "social.share_not_found"


@pytest.fixture
def sharer(member):
    """A member who shares moods with everyone."""

    def new() -> Viewer:
        person = member()
        person.set_privacy(share_moods_with="public")
        return person

    return new
