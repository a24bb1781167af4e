"""Test fixtures shared by the suites: real PostgreSQL and Redis, fresh databases, tokens."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import psycopg2
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import scoped_session, sessionmaker


def replace_database(url: str, name: str) -> str:
    """`url` pointing at database `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def fresh_database(admin_url: str, name: str) -> str:
    """Drop and re-create database `name` on the server of `admin_url`; return its URL."""
    conn = psycopg2.connect(admin_url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return replace_database(admin_url, name)


def redis_db(url: str, index: int) -> str:
    """`url` pointing at Redis database `index`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{index}", parts.query, parts.fragment))


def mint_token(
    private_pem: str,
    kid: str,
    *,
    subject: str | None = None,
    roles: list[str] | None = None,
    issuer: str = "hugmood-auth",
    audience: str = "hugmood",
    lifetime: int = 900,
    headers: dict[str, Any] | None = None,
    algorithm: str = "RS256",
    **claims: Any,
) -> str:
    """An access token like the auth service's, with any part overridable (for attack tests)."""
    now = int(time.time())
    payload = {
        "sub": subject or str(uuid.uuid4()),
        "roles": roles or ["user"],
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        "type": "access",
        "fresh": False,
        **claims,
    }
    return jwt.encode(
        payload, private_pem, algorithm=algorithm, headers={"kid": kid, "typ": "at+jwt", **(headers or {})}
    )


@contextlib.contextmanager
def rolled_back(db: SQLAlchemy) -> Iterator[None]:
    """Run a test inside one outer transaction that is rolled back; the app's commits become
    SAVEPOINT releases, so tests never see each other's rows."""
    connection = db.engine.connect()
    transaction = connection.begin()
    original = db.session
    # A plain Session: Flask-SQLAlchemy's own ignores `bind` and would pick the engine again.
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    db.session = scoped_session(factory, scopefunc=original.registry.scopefunc)
    try:
        yield
    finally:
        db.session.remove()
        db.session = original
        transaction.rollback()
        connection.close()


def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app over real HTTP from a thread; yield its base URL, then stop it."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
