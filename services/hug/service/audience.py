"""Whether a user admits hugs from another: the user service's answer, cached briefly in Redis."""

from __future__ import annotations

from typing import Any

import redis

from services.hug import errors
from shared.audience import AudienceSource
from shared.http import ServiceClient

# A privacy change or a block takes effect for new hugs within this many seconds.
AUDIENCE_TTL_SECONDS = 5


def admits_hugs(settings: dict[str, Any]) -> bool:
    """The rule: nobody blocked, and allow_hugs_from is anyone, or friends and they are friends."""
    if settings["blocked"]:
        return False
    allow = settings["allow_hugs_from"]
    return allow == "anyone" or (allow == "friends" and bool(settings["friends"]))


def audience_source(client: ServiceClient, cache_client: redis.Redis) -> AudienceSource:
    """The owner's allow_hugs_from, friendship and blocks towards a viewer, from the user service.

    Fallback: this is a privacy decision, so it fails closed. A copy is used only while fresh
    (5 s); when the user service cannot answer and no fresh copy exists the caller gets 503 with
    Retry-After, never a stale "yes": a hug must never reach someone who has closed hugs.
    """
    return AudienceSource(
        client, cache_client, prefix="hm:hug:audience", not_found=errors.UserNotFound, ttl=AUDIENCE_TTL_SECONDS
    )
