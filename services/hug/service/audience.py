"""Whether a user admits hugs from another: the user service's answer, cached briefly in Redis."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from services.hug import errors
from shared.http import ReadThroughCache, ServiceClient

# A privacy change or a block takes effect for new hugs within this many seconds.
AUDIENCE_TTL_SECONDS = 5


def admits_hugs(settings: dict[str, Any]) -> bool:
    """The rule: nobody blocked, and allow_hugs_from is anyone, or friends and they are friends."""
    if settings["blocked"]:
        return False
    allow = settings["allow_hugs_from"]
    return allow == "anyone" or (allow == "friends" and bool(settings["friends"]))


class AudienceSource:
    """The owner's allow_hugs_from, friendship and blocks towards a viewer, from the user service.

    Fallback: this is a privacy decision, so it fails closed. A copy is used only while fresh
    (5 s); when the user service cannot answer and no fresh copy exists the caller gets 503 with
    Retry-After, never a stale "yes": a hug must never reach someone who has closed hugs.
    """

    def __init__(self, client: ServiceClient, cache_client: redis.Redis):
        self.client = client
        self.cache = ReadThroughCache(cache_client, "hm:hug:audience", ttl=AUDIENCE_TTL_SECONDS, serve_stale=False)

    def _fetch(self, owner_id: uuid.UUID, viewer_id: uuid.UUID) -> dict[str, Any] | None:
        return self.client.read("user", f"/internal/v1/users/{owner_id}/audience/{viewer_id}")

    def lookup(self, owner_id: uuid.UUID, viewer_id: uuid.UUID) -> dict[str, Any] | None:
        """The user service's audience document, or None if `owner_id` does not exist."""
        return self.cache.get(f"{owner_id}:{viewer_id}", lambda: self._fetch(owner_id, viewer_id))

    def get(self, owner_id: uuid.UUID, viewer_id: uuid.UUID) -> dict[str, Any]:
        """The audience document; 404 if the owner does not exist."""
        settings = self.lookup(owner_id, viewer_id)
        if settings is None:
            raise errors.UserNotFound("No such user.")
        return settings
