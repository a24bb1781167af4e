"""What one user lets another see of them or send them: the user service's audience answer, cached."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import redis

from shared.errors import ProblemError
from shared.http import ReadThroughCache, ServiceClient


class AudienceSource:
    """The user service's audience document for (owner, viewer), cached briefly in Redis.

    A privacy decision fails closed: a copy is used only while fresh (`ttl` seconds) and, for a
    decision that names its rule (`refuses`), only when it refuses; when the
    user service cannot answer and no fresh copy exists the caller gets 503, never a stale "yes".
    With `owner_ttl`, the owner's own document (owner and viewer the same) is kept that long and,
    while the user service is down, served stale for up to an hour: no privacy setting decides what
    owners see of themselves.
    """

    def __init__(
        self,
        client: ServiceClient,
        cache_client: redis.Redis,
        *,
        prefix: str,
        not_found: type[ProblemError],
        ttl: int = 5,
        owner_ttl: int | None = None,
    ):
        self.client = client
        self.not_found = not_found
        self.others = ReadThroughCache(cache_client, prefix, ttl=ttl, serve_stale=False)
        self.owner = (
            self.others
            if owner_ttl is None
            else ReadThroughCache(cache_client, prefix, ttl=owner_ttl, stale_ttl=3600, serve_stale=True)
        )

    def _fetch(self, owner_id: uuid.UUID, viewer_id: uuid.UUID) -> dict[str, Any] | None:
        return self.client.read("user", f"/internal/v1/users/{owner_id}/audience/{viewer_id}")

    def lookup(
        self, owner_id: uuid.UUID, viewer_id: uuid.UUID, *, refuses: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any] | None:
        """The audience document, or None if `owner_id` does not exist.

        With `refuses` (the caller's rule, true when the document refuses what is asked), only a
        cached refusal is reused: what admits is asked of the user service again, so a block or a
        privacy change applies to the next decision at once.
        """
        cache = self.owner if owner_id == viewer_id else self.others
        return cache.get(f"{owner_id}:{viewer_id}", lambda: self._fetch(owner_id, viewer_id), reuse=refuses)

    def get(
        self, owner_id: uuid.UUID, viewer_id: uuid.UUID, *, refuses: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any]:
        """The audience document; `not_found` (a 404) if the owner does not exist."""
        settings = self.lookup(owner_id, viewer_id, refuses=refuses)
        if settings is None:
            raise self.not_found("No such user.")
        return settings
