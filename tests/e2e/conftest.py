"""The e2e tier: one real fleet per session, driven through the gateway like a client."""

from __future__ import annotations

import itertools
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.auth.service import SigningKey, generate_private_key_pem
from shared.config import SERVICES
from shared.migrate import upgrade
from shared.testing import fresh_database
from tests.e2e.fleet import Client, Fleet, python_env

ADMIN = ("e2e_admin", "e2e_admin@hugmood.test", "e2e admin pass phrase")
_addresses = itertools.count(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The origin a browser client of the e2e fleet calls from (CORS).
WEB_ORIGIN = "https://app.hugmood.test"


@pytest.fixture(scope="session")
def fleet_key() -> SigningKey:
    return SigningKey.from_pem(generate_private_key_pem())


def launch_fleet(
    database_url: str,
    redis_url: str,
    key: SigningKey,
    run_dir: Path,
    own_workers: tuple[str, ...] = (),
    **overrides: str,
) -> Fleet:
    """Migrate a fresh database and start every Procfile process against it; wait until healthy.

    Each service in `own_workers` gets a Celery worker of its own ("worker_<service>"), as a
    deployment that scales or stops one service's consumers apart from the rest would run it.
    """
    upgrade(database_url)
    redis.Redis.from_url(redis_url).flushdb()
    key_file = run_dir / "jwt.pem"
    key_file.write_text(key.private_pem)
    env = python_env()
    env.update(
        HUGMOOD_ENV="development",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        AUTH_JWT_PRIVATE_KEY_FILE=str(key_file),
        ADMIN_USERNAME=ADMIN[0],
        ADMIN_EMAIL=ADMIN[1],
        ADMIN_PASSWORD=ADMIN[2],
        LOG_LEVEL="INFO",
        GATEWAY_AUTH_RATE_LIMIT="5",
        GATEWAY_BREAKER_FAIL_MAX="3",
        GATEWAY_BREAKER_RESET_SECONDS="30",
        GATEWAY_TRUSTED_PROXIES="127.0.0.2/32",
        GATEWAY_WORKERS="1",
        GATEWAY_CORS_ORIGINS=WEB_ORIGIN,
        AUTH_WORKERS="1",
        AUTH_THREADS="4",
        WORKER_CONCURRENCY="1",
        BEAT_SCHEDULE_FILE=str(run_dir / "celerybeat-schedule"),
        # The recording providers write what push and email would have sent here, for the tests.
        NOTIFICATION_PUSH_PROVIDER="recording",
        NOTIFICATION_EMAIL_PROVIDER="recording",
        NOTIFICATION_RECORDING_PATH=str(run_dir / "sent.jsonl"),
        EVENT_RETRY_MAX_SECONDS="5",
        MOOD_INSIGHTS_DELAY_SECONDS="1",
        WORKER_METRICS_PORT=str(free_port()),
        RELAY_METRICS_PORT=str(free_port()),
        GATEWAY_OPS_PORT=str(free_port()),
    )
    env.update(overrides)
    for name in ("gateway", "auth", "user", "mood", "hug", "notification", "social", "graphql"):
        port = str(free_port())
        env[f"{name.upper()}_PORT"] = port
        if name != "gateway":
            env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    fleet = Fleet(env, run_dir)
    if own_workers:
        fleet.envs["worker"] = {**env, "WORKER_SERVICES": ",".join(s for s in SERVICES if s not in own_workers)}
        for service in own_workers:
            fleet.add_worker(f"worker_{service}", service, metrics_port=free_port())
    fleet.start()
    try:
        fleet.wait_healthy()
    except BaseException:
        fleet.stop_all()
        raise
    return fleet


@pytest.fixture(scope="session")
def fleet(servers, fleet_key, tmp_path_factory) -> Iterator[Fleet]:
    database_url = fresh_database(servers.database_url, servers.database("hugmood_e2e"))
    # The social service's consumers run in a worker of their own, so the data-rights test can stop
    # the whole social service (its HTTP process and its consumers) and watch it catch up.
    fleet = launch_fleet(
        database_url, servers.redis(12), fleet_key, tmp_path_factory.mktemp("fleet"), own_workers=("social",)
    )
    try:
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
def client(fleet) -> Client:
    """A client from a loopback address of its own (its own rate-limit bucket)."""
    return Client(fleet.gateway, f"127.0.1.{next(_addresses)}")


@pytest.fixture
def admin(fleet) -> Client:
    admin = Client(fleet.gateway, f"127.0.2.{next(_addresses)}")
    response = admin.post("/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[2]})
    assert response.status_code == 200, response.text
    admin.bearer(response.json()["access_token"])
    return admin


_names = itertools.count(1)


@pytest.fixture
def new_user(client):
    """Register a fresh user; returns (client with its token, session body)."""

    def make(c: Client = client) -> dict:
        n = next(_names)
        response = c.post(
            "/api/v1/auth/register",
            json={
                "username": f"user_{n}_{id(c) % 10000}",
                "email": f"user{n}_{id(c) % 10000}@example.com",
                "password": "a soft warm blanket",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        c.bearer(body["access_token"])
        return body

    return make


@pytest.fixture
def people(fleet, new_user):
    """Register n fresh users, each on a client from its own loopback address."""

    def make(n: int) -> list[tuple[Client, dict]]:
        out = []
        for _ in range(n):
            c = Client(fleet.gateway, f"127.0.4.{uuid.uuid4().int % 250 + 1}")
            out.append((c, new_user(c)))
        return out

    return make
