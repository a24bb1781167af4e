"""Integration tier: each app's test client on a migrated database, every test rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from services.auth.service import SigningKey, generate_private_key_pem
from shared.migrate import upgrade
from shared.testing import fresh_database, mint_token


@pytest.fixture(scope="session")
def database_url(servers) -> str:
    url = fresh_database(servers.database_url, "hugmood_integration")
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
    }


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def token_for(signing_key: SigningKey):
    """Mint an access token for any subject, signed by the fleet's key."""

    def mint(subject: str | None = None, **kwargs: Any) -> str:
        return mint_token(signing_key.private_pem, signing_key.kid, subject=subject, **kwargs)

    return mint
