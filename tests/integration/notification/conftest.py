from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.serving import make_server

from services.notification import create_app, tasks
from services.notification.models import db
from services.notification.service import delivery
from shared.testing import rolled_back

RECORDING = {"NOTIFICATION_PUSH_PROVIDER": "recording", "NOTIFICATION_EMAIL_PROVIDER": "recording"}


@pytest.fixture(scope="session")
def notification_config(service_config: dict[str, Any], user_server: str) -> dict[str, Any]:
    return {**service_config, "USER_URL": user_server, **RECORDING}


@pytest.fixture(scope="session")
def notification_app(notification_config: dict[str, Any]) -> Flask:
    return create_app(notification_config)


def providers(app: Flask) -> Any:
    return app.extensions["notification_providers"]


def send(app: Flask, delivery_id: uuid.UUID, now: datetime | None = None) -> delivery.Result:
    """Run one delivery with the app's providers and its address lookup (the auth service)."""
    return delivery.deliver(
        delivery_id=delivery_id, providers=providers(app), addresses=app.extensions["notification_addresses"], now=now
    )


@pytest.fixture
def sent(notification_app: Flask) -> Iterator[Any]:
    """The recording providers of the app, emptied for this test."""
    recorded = providers(notification_app)
    recorded.push.sent.clear()
    recorded.email.sent.clear()
    yield recorded


@pytest.fixture
def enqueued(monkeypatch, worker_app, notification_app: Flask) -> list[uuid.UUID]:
    """Run the consumers against the test app, recording what they hand to the send task."""
    queue: list[uuid.UUID] = []
    worker_app(tasks, notification_app)
    monkeypatch.setattr(tasks, "enqueue", lambda ids: queue.extend(ids))
    return queue


@pytest.fixture
def client(notification_app: Flask, redis_client, sent, enqueued) -> Iterator[FlaskClient]:
    with notification_app.app_context(), rolled_back(db):
        yield notification_app.test_client()


def quiet_around_now(zone: str) -> dict[str, str]:
    """Quiet hours from an hour ago to an hour from now, on the clock of `zone`."""
    now = datetime.now(ZoneInfo(zone))
    return {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M")}


def event(event_type: str, **data: Any) -> dict[str, Any]:
    """An event as the outbox relay delivers it."""
    return {"id": str(uuid.uuid4()), "type": event_type, "occurred_at": datetime.now(UTC).isoformat(), "data": data}


def hug_sent(recipient: str, sender: str | None = None, **extra: Any) -> dict[str, Any]:
    return event(
        "HugSent",
        hug_id=str(uuid.uuid4()),
        sender_id=sender or str(uuid.uuid4()),
        recipient_id=recipient,
        type="bear",
        type_label="bear hug",
        message=None,
        hug_request_id=None,
        group_hug_id=None,
        **extra,
    )


class Caller:
    """A user (a random id with a token signed by the fleet's key) calling the notification service."""

    def __init__(self, client: FlaskClient, user_id: str, token: str):
        self.client, self.id, self.token = client, user_id, token
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, **kw: Any):
        response = getattr(self.client, method)(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)
        # Requests share the test's app context (and so its session): end what they left open, as
        # a request's teardown would, so a later rollback cannot undo another session's commits.
        db.session.commit()
        return response

    def get(self, path: str, **kw: Any):
        return self._call("get", path, **kw)

    def post(self, path: str, **kw: Any):
        return self._call("post", path, **kw)

    def put(self, path: str, **kw: Any):
        return self._call("put", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self._call("delete", path, **kw)

    def hugged(self, times: int = 1) -> None:
        """Someone sends this user `times` hugs (through the HugSent consumer)."""
        for _ in range(times):
            tasks.on_hug_sent(hug_sent(self.id))

    def notifications(self, **query: Any) -> list[dict[str, Any]]:
        response = self.get("/api/v1/notifications", query_string=query)
        assert response.status_code == 200, response.json
        return response.json["items"]

    def add_device(self, token: str, device_type: str = "android") -> dict[str, Any]:
        response = self.post("/api/v1/devices", json={"device_token": token, "device_type": device_type})
        assert response.status_code in (200, 201), response.json
        return response.json


@pytest.fixture
def caller(client, token_for):
    def new(user_id: str | None = None) -> Caller:
        user_id = user_id or str(uuid.uuid4())
        return Caller(client, user_id, token_for(user_id))

    return new


# --- a live server, for long polls (real commits, real threads; cleaned up by user id) ---


@pytest.fixture(scope="session")
def live_app(notification_config: dict[str, Any]) -> Flask:
    return create_app(notification_config)


@pytest.fixture(scope="session")
def live_url(live_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    live_app.extensions["notification_wake"].stop()


class LiveUser:
    """A user polling the live server; their rows are deleted after the test."""

    def __init__(self, base_url: str, user_id: str, token: str):
        self.base_url, self.id = base_url, user_id
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {token}"

    def poll(self, cursor: str | None = None, timeout: int = 10) -> dict[str, Any]:
        query: dict[str, Any] = {"timeout": timeout}
        if cursor is not None:
            query["cursor"] = cursor
        response = self.session.get(f"{self.base_url}/api/v1/notifications/poll", params=query, timeout=timeout + 5)
        assert response.status_code == 200, response.text
        return response.json()

    def hugged(self) -> str:
        """Someone sends this user a hug; return its id."""
        hug = hug_sent(self.id)
        tasks.on_hug_sent(hug)
        return hug["data"]["hug_id"]


@pytest.fixture
def live_user(live_app: Flask, live_url: str, token_for, monkeypatch, worker_app, redis_client):
    worker_app(tasks, live_app)
    monkeypatch.setattr(tasks, "enqueue", lambda ids: None)
    made: list[str] = []

    def new() -> LiveUser:
        user_id = str(uuid.uuid4())
        made.append(user_id)
        return LiveUser(live_url, user_id, token_for(user_id))

    yield new
    with live_app.app_context():
        for table in ("deliveries", "notifications", "notification_counters"):
            db.session.execute(text(f"DELETE FROM {table} WHERE user_id = ANY(CAST(:ids AS uuid[]))"), {"ids": made})
        db.session.commit()
