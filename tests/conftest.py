"""Real PostgreSQL and Redis for every tier: TEST_DATABASE_URL / TEST_REDIS_URL, else embedded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.testing import redis_db

# Checkouts may run their suites side by side on one machine: TEST_SLOT gives each its own
# databases and Redis databases. Slots 0..3 share one Redis; a slot from 4 on reuses slot
# (TEST_SLOT % 4)'s Redis database numbers, so it needs a Redis server of its own.
SLOT = int(os.environ.get("TEST_SLOT", "0"))

# The apps built in-process by the unit and integration tiers run with development secrets.
os.environ.setdefault("HUGMOOD_ENV", "development")


@dataclass(frozen=True)
class Servers:
    database_url: str  # an admin URL; suites create their own databases on that server
    redis_url: str

    def redis(self, index: int) -> str:
        """Redis database `index` of slot 0; slots 1..3 move down by 3 per slot (11 -> 8, 5, 2)."""
        return redis_db(self.redis_url, index - 3 * (SLOT % 4))

    def database(self, name: str) -> str:
        """A database name of this slot."""
        return f"{name}_{SLOT}" if SLOT else name


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
