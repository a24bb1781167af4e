"""Real PostgreSQL and Redis for every tier: TEST_DATABASE_URL / TEST_REDIS_URL, else embedded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.testing import redis_db


@dataclass(frozen=True)
class Servers:
    database_url: str  # an admin URL; suites create their own databases on that server
    redis_url: str

    def redis(self, index: int) -> str:
        return redis_db(self.redis_url, index)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if database_url and redis_url:
        yield Servers(database_url, redis_url)
        return
    from scripts.embedded import start_postgres, start_redis

    # Under the project, not /tmp/pytest-of-*: that is private to its owner, and as root the
    # embedded PostgreSQL runs as an unprivileged user that must be able to reach its data dir.
    data_dir = Path(__file__).resolve().parent.parent / ".data" / "test-embedded"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    started = []
    try:
        if not database_url:
            started.append(start_postgres(data_dir))
            database_url = started[-1].url
        if not redis_url:
            started.append(start_redis(data_dir))
            redis_url = started[-1].url
        yield Servers(database_url, redis_url)
    finally:
        for server in reversed(started):
            server.stop()
