"""Database plumbing: one schema and one role per service."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, CursorResult, Engine, MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session

from shared.config import SCHEMAS, Config

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def role_name(service: str) -> str:
    """The PostgreSQL role a service connects as."""
    return f"hugmood_{service}"


def schema_name(service: str) -> str:
    """The PostgreSQL schema a service owns."""
    return SCHEMAS[service]


def make_db(service: str) -> SQLAlchemy:
    """A Flask-SQLAlchemy instance whose tables live in the service's own schema."""
    return SQLAlchemy(metadata=MetaData(schema=schema_name(service), naming_convention=NAMING))


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` with its user and password replaced."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    scheme = "postgresql+psycopg2" if parts.scheme in {"postgres", "postgresql"} else parts.scheme
    return urlunsplit((scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


def service_database_url(service: str, config: Config) -> str:
    """The URL a service connects with: its own role, never the admin one."""
    return with_credentials(config.DATABASE_URL, role_name(service), config.DATABASE_ROLE_PASSWORD)


def engine_options(service: str, pool_size: int = 5) -> dict[str, Any]:
    """Engine options shared by every service: bounded pool, search path (and `ping_when_idle`)."""
    return {
        "pool_size": pool_size,
        "max_overflow": 10,
        "pool_recycle": 1800,
        "connect_args": {
            "options": f"-c search_path={schema_name(service)} -c statement_timeout=15000",
            "application_name": f"hugmood-{service}",
        },
    }


# A pooled connection given back less than this many seconds ago is taken to be alive; one idle for
# longer is tested with a round trip before it is used.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_when_idle(engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> Engine:
    """Test a pooled connection before use only when it has been idle, instead of on every
    checkout as `pool_pre_ping` does: a busy process then saves a round trip per request. A
    connection that fails its ping is replaced at once. One used within the last `idle_seconds`
    that died meanwhile (the server restarted in that second) fails its request once; the pool then
    drops every connection older than that failure."""

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("a pooled connection failed its ping") from exc

    return engine


class PreparedStatement:
    """A statement PostgreSQL parses and plans once per connection, not on every call.

    `sql` names its parameters `:name`; `params` gives each name with its PostgreSQL type, in order.
    On a connection's first use the statement is sent as `PREPARE`; afterwards only `EXECUTE` with
    the values. A prepared statement belongs to the database session and survives a rollback; the
    pool's record of it (`connection.info`) is dropped with the connection, so a reconnected
    connection prepares again. For hot read paths whose planning is a large share of their cost.
    """

    def __init__(self, name: str, sql: str, params: tuple[tuple[str, str], ...]) -> None:
        body = sql
        for number, (param, _type) in enumerate(params, 1):
            body = re.sub(rf"(?<!:):{param}\b", f"${number}", body)
        if re.search(r"(?<!:):[a-z_]+\b", body):
            raise ValueError(f"{name}: a :parameter of the statement is missing from params")
        self.name = name
        self.names = tuple(param for param, _type in params)
        self.prepare_sql = f"PREPARE {name} ({', '.join(t for _p, t in params)}) AS {body}"
        self.execute_sql = f"EXECUTE {name} ({', '.join(['%s'] * len(params))})"

    def values(self, bound: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(str(bound[n]) if isinstance(bound[n], uuid.UUID) else bound[n] for n in self.names)

    def execute(self, session: Session, bound: dict[str, Any]) -> CursorResult[Any]:
        connection = session.connection()
        prepared = connection.connection.info.setdefault("prepared_statements", set())
        if self.name not in prepared:
            connection.exec_driver_sql(self.prepare_sql)
            prepared.add(self.name)
        return connection.exec_driver_sql(self.execute_sql, self.values(bound))


def outside_transaction(session: Session | scoped_session[Session]) -> None:
    """Let the session's statements run without a transaction, each on its own (autocommit): no
    `BEGIN` before and no `ROLLBACK` after, two round trips fewer. For a request that only reads,
    in *one* statement (two statements would read two different snapshots), or that writes in one
    statement, called before its first statement. A session already in a transaction, or bound to
    a connection (which has its own), is left as it is.

    psycopg2 switches autocommit on the client, sending nothing; the connection is switched back
    when the pool takes it back (`_transactional_again`). SQLAlchemy's own way, the
    `isolation_level` execution option, costs a `SET` round trip when the pool restores the level.
    """
    current = session() if isinstance(session, scoped_session) else session
    bind = current.get_bind()
    if current.in_transaction() or not isinstance(bind, Engine):
        return
    _autocommit(bind, current.connection())


@contextlib.contextmanager
def statement_connection(engine: Engine) -> Iterator[Connection]:
    """A pooled connection whose statements each commit on their own (as `outside_transaction`),
    for a write that is one statement: no `BEGIN` and no `COMMIT` round trips around it."""
    with engine.connect() as connection:
        _autocommit(engine, connection)
        yield connection


def _autocommit(engine: Engine, connection: Connection) -> None:
    if engine not in _SWITCHING_ENGINES:
        event.listen(engine, "checkin", _transactional_again)
        _SWITCHING_ENGINES.add(engine)
    # Checked out idle: the pool rolls a connection back when it is returned, and its ping runs in
    # autocommit.
    connection.connection.dbapi_connection.autocommit = True


# Engines whose pool switches a connection lent out in autocommit back to transactional.
_SWITCHING_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _transactional_again(dbapi_connection: Any, record: Any) -> None:
    """Pool checkin: a connection lent out by `outside_transaction` goes back transactional."""
    if dbapi_connection is not None and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False
