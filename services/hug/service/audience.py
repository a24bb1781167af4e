"""Whether a user admits hugs from another: the user service's answer; only refusals are cached."""

from __future__ import annotations

from typing import Any

import redis

from services.hug import errors
from shared.audience import AudienceSource
from shared.http import ServiceClient

# How long a cached answer lives; only refusals are reused for a hug, a request or an invite (an
# admission is asked again), so a block or a closed allow_hugs_from applies to them at once.
AUDIENCE_TTL_SECONDS = 5


def admits_hugs(settings: dict[str, Any]) -> bool:
    """The rule: nobody blocked, and allow_hugs_from is anyone, or friends and they are friends."""
    if settings["blocked"]:
        return False
    allow = settings["allow_hugs_from"]
    return allow == "anyone" or (allow == "friends" and bool(settings["friends"]))


def refuses_hugs(settings: dict[str, Any]) -> bool:
    """The `refuses` rule of a hug or an invite: a cached copy is reused only if it says no."""
    return not admits_hugs(settings)


def blocked(settings: dict[str, Any]) -> bool:
    """The `refuses` rule of a hug request and its answer: either of the two blocked the other."""
    return bool(settings["blocked"])


def audience_source(client: ServiceClient, cache_client: redis.Redis) -> AudienceSource:
    """The owner's allow_hugs_from, friendship and blocks towards a viewer, from the user service.

    Fallback: this is a privacy decision, so it fails closed. A copy is used only while fresh
    (5 s), and a write reuses only a copy that refuses; when the user service cannot answer the
    caller gets 503 with Retry-After, never a cached or stale "yes": a hug must never reach
    someone who has closed hugs or blocked the sender.
    """
    return AudienceSource(
        client, cache_client, prefix="hm:hug:audience", not_found=errors.UserNotFound, ttl=AUDIENCE_TTL_SECONDS
    )
