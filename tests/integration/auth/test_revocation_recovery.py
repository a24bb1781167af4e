"""Revocation survives a Redis that crashed and came back empty; the embedded Redis keeps its data."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
import requests

from scripts.embedded import start_redis
from shared.ratelimit import Limiter
from shared.testing import serve_wsgi


class KillableRedis:
    """A real redis-server on its own port that the test kills with SIGKILL and starts again."""

    def __init__(self, data_dir: Path, **options: str):
        self.data_dir, self.options = data_dir, options
        self.server = start_redis(data_dir, **options)
        self.url = self.server.url
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def kill(self) -> None:
        os.kill(int((self.data_dir / "redis" / "redis.pid").read_text()), signal.SIGKILL)
        self.server.stop()  # reaps it

    def start(self) -> None:
        (self.data_dir / "redis" / "redis.pid").unlink(missing_ok=True)
        self.server = start_redis(self.data_dir, port=self.port, **self.options)


@pytest.fixture
def empty_after_crash(tmp_path: Path) -> Iterator[KillableRedis]:
    """A Redis that persists nothing: after a crash it comes back empty, the worst case."""
    server = KillableRedis(tmp_path, appendonly="no", save="")
    yield server
    server.server.stop()


@pytest.fixture
def auth_url(base_config: dict[str, Any], empty_after_crash: KillableRedis) -> Iterator[str]:
    from services.auth import create_app

    app = create_app({**base_config, "REDIS_URL": empty_after_crash.url, "AUTH_HASH_WORKERS": "0"})
    yield from serve_wsgi(app)


def _register(auth_url: str) -> str:
    name = f"r{uuid.uuid4().hex[:12]}"
    body = {"username": name, "email": f"{name}@example.com", "password": "a calm blue ocean"}
    response = requests.post(f"{auth_url}/api/v1/auth/register", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def _me(auth_url: str, token: str) -> requests.Response:
    return requests.get(f"{auth_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _gateway_refuses(limiter: Limiter, token: str) -> bool:
    """The gateway's check: revoked, or revocation unknown (it answers 503) — anything but accepted."""
    claims = jwt.decode(token, options={"verify_signature": False})
    try:
        return limiter.check([("ip:127.0.0.1", 1000)], claims).revoked
    except redis.RedisError:
        return True


def test_a_logged_out_token_stays_refused_after_redis_restarts_empty(auth_url, empty_after_crash):
    revoked, live = _register(auth_url), _register(auth_url)
    assert requests.post(
        f"{auth_url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {revoked}"}, json={}, timeout=10
    ).status_code in (200, 204)
    assert _me(auth_url, revoked).status_code == 401

    empty_after_crash.kill()
    empty_after_crash.start()
    client = redis.Redis.from_url(empty_after_crash.url)
    assert client.dbsize() <= 1, "the restarted Redis holds none of the old keys"
    limiter = Limiter(client)

    # From the first request on, the old token is never accepted: refused as revoked once the auth
    # service has written the denylist back, 503 (revocation unknown) before that.
    seen, deadline, reloaded_after = [], time.monotonic() + 10, None
    started = time.monotonic()
    while time.monotonic() < deadline:
        status = _me(auth_url, revoked).status_code
        seen.append(status)
        assert status in (401, 503), f"a logged-out token was accepted after the Redis restart: {seen}"
        assert _gateway_refuses(limiter, revoked), "the gateway's check accepted a logged-out token"
        if status == 401:
            reloaded_after = time.monotonic() - started
            break
        time.sleep(0.05)
    assert reloaded_after is not None, f"the denylist was never written back: {seen}"
    assert _me(auth_url, revoked).json()["code"] == "auth.token_revoked"
    assert _me(auth_url, live).status_code == 200, "a token nobody revoked works again"
    assert not limiter.check([("ip:127.0.0.1", 1000)], jwt.decode(live, options={"verify_signature": False})).revoked
    print(f"\ndenylist written back {reloaded_after:.2f} s after Redis restarted empty")


def test_the_embedded_redis_keeps_a_write_through_a_kill_9(tmp_path):
    server = KillableRedis(tmp_path)
    try:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        client.set("queued-task", "kept")
        time.sleep(1.5)  # everysec: fsynced within a second
        server.kill()
        server.start()
        assert redis.Redis.from_url(server.url).get("queued-task") == b"kept"
    finally:
        server.server.stop()
