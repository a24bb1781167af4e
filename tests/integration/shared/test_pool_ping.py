"""shared.db.ping_when_idle on a real PostgreSQL: a connection idle past the threshold is tested
before use and replaced if its server process is gone; one used just before is not tested."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from shared.db import ping_when_idle

IDLE = 0.3


@pytest.fixture
def engine(database_url):
    url = database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = ping_when_idle(create_engine(url, pool_size=1, max_overflow=0), idle_seconds=IDLE)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine, admin
    engine.dispose()
    admin.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(admin, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    for _ in range(50):  # until the server has let the process go
        with admin.connect() as conn:
            if not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar():
                return
        time.sleep(0.02)


def test_an_idle_connection_is_tested_and_replaced(engine):
    engine, admin = engine
    first = backend_pid(engine)
    assert backend_pid(engine) == first  # the pool keeps its one connection
    terminate(admin, first)
    time.sleep(IDLE + 0.1)
    second = backend_pid(engine)  # no error: the ping found it dead and the pool reconnected
    assert second != first


def test_a_connection_just_used_is_not_tested(engine):
    engine, admin = engine
    first = backend_pid(engine)
    terminate(admin, first)  # well within IDLE of its last use: it is taken to be alive
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert backend_pid(engine) != first  # the failure dropped it; the next request is served
