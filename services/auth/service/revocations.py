"""The denylist, kept in PostgreSQL as well as Redis: a Redis that lost its data gets it back.

Every revocation is written to the `revocations` table in the caller's transaction and to Redis.
A watcher thread in each auth process looks for the denylist's READY key every second; when it is
gone (Redis restarted empty, or was flushed) it writes every unexpired revocation back, then READY.
Until then the gateway and the services refuse tokens with 503 auth.revocation_unavailable, as when
Redis is down: no revoked token is accepted in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from services.auth.models import Revocation, db
from shared.auth import ACCESS_TOKEN_SECONDS, Denylist

log = logging.getLogger("hugmood.auth.revocations")

PRUNE_EVERY = 300.0


def _record(kind: str, keys: Iterable[str], ttl: int, value: int | None = None) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=max(ttl, 1))
    rows = [{"kind": kind, "key": key, "value": value, "expires_at": expires} for key in keys]
    if not rows:
        return
    statement = insert(Revocation).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[Revocation.kind, Revocation.key],
        set_={
            "expires_at": func.greatest(Revocation.expires_at, statement.excluded.expires_at),
            "value": func.greatest(Revocation.value, statement.excluded.value),
        },
    )
    db.session.execute(statement)


class RecordedDenylist(Denylist):
    """The auth service's denylist: each revocation also goes into the caller's transaction."""

    def revoke_token(self, jti: str, ttl: int = ACCESS_TOKEN_SECONDS) -> None:
        _record("jti", [jti], ttl)
        super().revoke_token(jti, ttl)

    def revoke_families(self, family_ids: Iterable[str], ttl: int = ACCESS_TOKEN_SECONDS) -> None:
        family_ids = list(family_ids)
        _record("fam", family_ids, ttl)
        super().revoke_families(family_ids, ttl)

    def revoke_roles_below(self, user_id: str, version: int, ttl: int = ACCESS_TOKEN_SECONDS, pipe: Any = None) -> None:
        _record("ver", [user_id], ttl, int(version))
        super().revoke_roles_below(user_id, version, ttl, pipe)


def reassert(denylist: Denylist) -> int:
    """Write every unexpired revocation into Redis, then READY; return how many were written."""
    rows = db.session.execute(select(Revocation).where(Revocation.expires_at > func.now())).scalars().all()
    now = datetime.now(UTC)
    pipe = denylist.redis.pipeline(transaction=False)
    for row in rows:
        ttl = int((row.expires_at - now).total_seconds()) + 1
        if row.kind == "ver":
            Denylist.revoke_roles_below(denylist, row.key, row.value or 0, ttl, pipe=pipe)
        else:
            pipe.set(f"{Denylist.PREFIX}{row.kind}:{row.key}", 1, ex=ttl)
    pipe.set(Denylist.READY, 1)
    pipe.execute()
    return len(rows)


def prune() -> int:
    """Delete revocations that can no longer refuse any token."""
    deleted = db.session.execute(delete(Revocation).where(Revocation.expires_at <= func.now())).rowcount
    db.session.commit()
    return deleted


def ensure_loaded(app: Flask, denylist: Denylist) -> bool:
    """Reload the denylist if Redis lost it; return whether it did."""
    if denylist.redis.exists(Denylist.READY):
        return False
    with app.app_context():
        try:
            count = reassert(denylist)
        finally:
            db.session.remove()
    log.warning("Redis had no denylist: %d revocations written back from PostgreSQL", count)
    return True


def watch(app: Flask, denylist: Denylist, interval: float) -> threading.Thread:
    """Check for a lost denylist every `interval` seconds, for the life of this process."""

    def run() -> None:
        pruned_at = time.monotonic()
        while True:
            try:
                ensure_loaded(app, denylist)
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    with app.app_context():
                        try:
                            prune()
                        finally:
                            db.session.remove()
            except (redis.RedisError, OSError) as exc:
                log.debug("denylist check failed: %s", exc)
            except Exception:  # a database error must not end the watcher
                log.exception("denylist check failed")
            time.sleep(interval)

    thread = threading.Thread(target=run, name="denylist-watch", daemon=True)
    thread.start()
    return thread
