"""shared.db.PreparedStatement on a real PostgreSQL: prepared once per connection, survives a
rollback, prepared again on a new connection; shared.db.outside_transaction: no transaction for
that session, and the pooled connection is transactional again for the next one."""

from __future__ import annotations

import uuid

import psycopg2.extensions
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from shared.db import PreparedStatement, outside_transaction, statement_connection

ECHO = PreparedStatement(
    "test_echo",
    "SELECT :who::text || ' in ' || :zone AS said, :n + 1 AS next",
    (("who", "uuid"), ("zone", "text"), ("n", "int")),
)


def prepared_here(session: Session) -> list[str]:
    return list(session.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


@pytest.fixture
def engine(database_url):
    engine = create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg2://", 1), pool_size=1, max_overflow=0
    )
    yield engine
    engine.dispose()


def test_prepared_once_per_connection_and_kept_across_rollbacks(engine):
    who = uuid.uuid4()
    with Session(engine) as session:
        assert ECHO.execute(session, {"who": who, "zone": "Asia/Tokyo", "n": 1}).one() == (f"{who} in Asia/Tokyo", 2)
        assert prepared_here(session) == ["test_echo"]
        session.rollback()
    with Session(engine) as session:  # the same pooled connection: EXECUTE only
        assert ECHO.execute(session, {"who": who, "zone": "UTC", "n": 41}).one() == (f"{who} in UTC", 42)
        assert prepared_here(session) == ["test_echo"]
        session.connection().invalidate()  # e.g. the server restarted: the pool reconnects
    with Session(engine) as session:
        assert prepared_here(session) == []
        assert ECHO.execute(session, {"who": who, "zone": "UTC", "n": 0}).one() == (f"{who} in UTC", 1)
        assert prepared_here(session) == ["test_echo"]


def in_transaction(session: Session) -> bool:
    status = session.connection().connection.dbapi_connection.info.transaction_status
    return status != psycopg2.extensions.TRANSACTION_STATUS_IDLE


def test_outside_a_transaction_then_transactional_again_from_the_pool(engine):
    who = uuid.uuid4()
    with Session(engine) as session:
        outside_transaction(session)
        assert ECHO.execute(session, {"who": who, "zone": "UTC", "n": 1}).one()[1] == 2
        assert not in_transaction(session)
        session.execute(text("CREATE TEMPORARY TABLE t_autocommit (n int)"))
        dbapi_connection = session.connection().connection.dbapi_connection
        session.rollback()  # the connection goes back to the pool, transactional again
        assert dbapi_connection.autocommit is False
        assert "t_autocommit" in list(
            session.execute(text("SELECT relname FROM pg_class WHERE relname = 't_autocommit'")).scalars()
        )  # nothing to roll back: each statement committed on its own
    with Session(engine) as session:  # the same pooled connection, transactional again
        assert ECHO.execute(session, {"who": who, "zone": "UTC", "n": 2}).one()[1] == 3
        assert in_transaction(session)
        session.execute(text("DROP TABLE t_autocommit"))
        session.rollback()
        assert list(session.execute(text("SELECT relname FROM pg_class WHERE relname = 't_autocommit'")).scalars())


def test_every_parameter_must_be_declared():
    with pytest.raises(ValueError, match="missing"):
        PreparedStatement("test_bad", "SELECT :a, :b", (("a", "int"),))
    assert ECHO.execute_sql == "EXECUTE test_echo (%s, %s, %s)"
    assert "$1::text || ' in ' || $2" in ECHO.prepare_sql and "$3 + 1" in ECHO.prepare_sql


def test_outside_transaction_leaves_an_open_transaction_alone(engine):
    with Session(engine) as session:
        session.execute(text("CREATE TEMPORARY TABLE t_inside (n int)"))
        outside_transaction(session)  # too late: the transaction has begun, and stays
        assert in_transaction(session)
        session.rollback()
        assert not list(session.execute(text("SELECT relname FROM pg_class WHERE relname = 't_inside'")).scalars())


def test_a_statement_connection_commits_each_statement_and_goes_back_transactional(engine):
    with statement_connection(engine) as connection:
        connection.execute(text("CREATE TEMPORARY TABLE t_statement (n int)"))
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    assert dbapi_connection.autocommit is False  # back in the pool, transactional
    with Session(engine) as session:  # the same pooled connection: the table was committed
        assert list(session.execute(text("SELECT relname FROM pg_class WHERE relname = 't_statement'")).scalars())
        assert in_transaction(session)
