"""Integration tier: each app's test client on a migrated database, every test rolled back."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask, current_app

from services.auth.service import SigningKey, generate_private_key_pem
from shared.auth import Denylist
from shared.migrate import upgrade
from shared.testing import fresh_database, mint_token, serve_wsgi


@pytest.fixture(scope="session")
def database_url(servers) -> str:
    url = fresh_database(servers.database_url, servers.database("hugmood_integration"))
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url(servers) -> str:
    return servers.redis(11)


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.from_pem(generate_private_key_pem())


@pytest.fixture(scope="session")
def base_config(database_url: str, redis_url: str, signing_key: SigningKey) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "AUTH_JWT_PRIVATE_KEY": signing_key.private_pem,
        "LOG_LEVEL": "WARNING",
        "HUGMOOD_ENV": "development",
    }


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.set(Denylist.READY, 1)  # what the auth service's watcher would write back, at once
    yield client
    client.close()


@pytest.fixture
def redis_unreachable() -> Callable[[redis.Redis], contextlib.AbstractContextManager[None]]:
    """`with redis_unreachable(client):` points `client`'s pool at a closed port until the block
    ends, as if Redis went away and came back."""

    @contextlib.contextmanager
    def outage(client: redis.Redis) -> Iterator[None]:
        pool = client.connection_pool
        saved = dict(pool.connection_kwargs)
        pool.connection_kwargs.update(host="127.0.0.1", port=1)
        pool.disconnect()
        pool.reset()  # new connections only: a pooled one keeps the address it was made with
        try:
            yield
        finally:
            pool.connection_kwargs.clear()
            pool.connection_kwargs.update(saved)
            pool.disconnect()
            pool.reset()

    return outage


@pytest.fixture
def worker_app() -> Iterator[Callable[[Any, Flask], None]]:
    """`worker_app(tasks, app)`: the consumers and tasks of a service's `tasks` module run on the
    test's `app` (through its lazy app's override) until the test ends."""
    with contextlib.ExitStack() as overrides:
        yield lambda tasks, app: overrides.enter_context(tasks.app.override(app))


@pytest.fixture
def deliver() -> Callable[[Callable[[dict[str, Any]], None], dict[str, Any]], None]:
    """Run a consumer as a worker does, in its own app context and session. The test's session
    commits first, so the consumer's work is not nested in a savepoint of the test's session that
    a failed request then rolls back."""

    def run(handler: Callable[[dict[str, Any]], None], evt: dict[str, Any]) -> None:
        current_app.extensions["sqlalchemy"].session.commit()
        handler(evt)

    return run


@pytest.fixture
def token_for(signing_key: SigningKey):
    """Mint an access token for any subject, signed by the fleet's key."""

    def mint(subject: str | None = None, **kwargs: Any) -> str:
        return mint_token(signing_key.private_pem, signing_key.kid, subject=subject, **kwargs)

    return mint


@pytest.fixture(scope="session")
def auth_server(base_config: dict[str, Any]) -> Iterator[str]:
    """The real auth service over real HTTP, for services that call it."""
    from services.auth import create_app

    yield from serve_wsgi(create_app({**base_config, "AUTH_HASH_WORKERS": "0"}))


@pytest.fixture(scope="session")
def user_server(service_config: dict[str, Any]) -> Iterator[str]:
    """The real user service over real HTTP (privacy, relations), for services that call it."""
    from services.user import create_app

    yield from serve_wsgi(create_app(service_config))


@pytest.fixture(scope="session")
def service_config(base_config: dict[str, Any], auth_server: str) -> dict[str, Any]:
    """Configuration for a service that talks to the (real, threaded) auth service."""
    return {**base_config, "AUTH_URL": auth_server}


@pytest.fixture(scope="session")
def verification_token(database_url: str) -> Iterator[Callable[[str], str]]:
    """`verification_token(user_id)`: the token of the user's latest verification email, read from
    the auth service's outbox (where the notification service would get it)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(sqlalchemy.make_url(database_url).set(drivername="postgresql+psycopg2"))
    query = sqlalchemy.text(
        "SELECT payload->'data'->>'token' FROM auth.outbox WHERE event_type = 'EmailVerificationRequested'"
        " AND payload->'data'->>'user_id' = :user_id ORDER BY created_at DESC LIMIT 1"
    )

    def latest(user_id: str) -> str:
        with engine.connect() as connection:
            return connection.execute(query, {"user_id": user_id}).scalar_one()

    yield latest
    engine.dispose()


@pytest.fixture(scope="session")
def make_user(auth_server: str, verification_token: Callable[[str], str]):
    """Register a real account through the auth service; returns (user id, access token, username).
    `verified=True` also confirms its address with the token of its verification email."""
    import itertools

    import requests

    counter = itertools.count()
    session = requests.Session()
    session.trust_env = False

    def make(name: str | None = None, *, verified: bool = False) -> tuple[str, str, str]:
        username = name or f"u{next(counter)}_{uuid.uuid4().hex[:8]}"
        response = session.post(
            f"{auth_server}/api/v1/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": "a gentle evening tide",
            },
            headers={"X-Real-IP": "192.0.2.1"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        if verified:
            token = verification_token(body["user"]["id"])
            confirmed = session.post(f"{auth_server}/api/v1/auth/email/verify", json={"token": token})
            assert confirmed.status_code == 204, confirmed.text
        return body["user"]["id"], body["access_token"], username

    return make


@pytest.fixture(scope="session")
def service_token(auth_server: str):
    """A real service identity from the auth service's client_credentials grant."""
    import requests

    def issue(name: str) -> str:
        response = requests.post(
            f"{auth_server}/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": name,
                "client_secret": "dev-service-secret",
            },
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    return issue


@pytest.fixture
def erasure_report(client, token_for):
    """GET the service's erasure report for a user id, as an admin (`client`: the service's own)."""
    headers = {"Authorization": f"Bearer {token_for(str(uuid.uuid4()), roles=['user', 'admin'])}"}

    def report(user_id: str):
        return client.get(f"/internal/v1/erasures/{user_id}", headers=headers)

    return report
