"""Who may see a user's moods: the owner's privacy and relations, asked of the user service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import redis

from services.mood import errors
from shared.audience import AudienceSource
from shared.http import ServiceClient

# A refusal shown to another viewer is reused for this many seconds; an admission never is, so a
# block, an unfriending or a narrower privacy setting applies to the next read.
AUDIENCE_TTL_SECONDS = 5
# The owner's own view depends only on their time zone, which changes rarely: keep it longer.
OWNER_TTL_SECONDS = 60


@dataclass(frozen=True)
class Audience:
    """What `viewer_id` may see of `owner_id`'s moods, and the owner's time zone."""

    owner_id: uuid.UUID
    viewer_id: uuid.UUID
    timezone: str
    sees_public: bool

    @property
    def is_owner(self) -> bool:
        return self.owner_id == self.viewer_id

    @property
    def scope(self) -> str:
        """Which entries the viewer sees: "all" (the owner), "public", or "none"."""
        return "all" if self.is_owner else ("public" if self.sees_public else "none")


def admits(settings: dict[str, Any]) -> bool:
    """The visibility rule: public entries only, and only if share_moods_with admits the viewer."""
    if settings["blocked"]:
        return False
    share = settings["share_moods_with"]
    return share == "public" or (share == "friends" and settings["friends"])


def audience_source(client: ServiceClient, cache_client: redis.Redis) -> AudienceSource:
    """The user service's answers, cached briefly in Redis.

    The owner's own copy stays fresh for a minute (only their time zone matters to them). When the
    user service is down, the owner's own requests use a stale copy; other viewers fail closed
    with 503 unless a fresh refusal is cached, so a privacy change is never overridden by an old
    answer.
    """
    return AudienceSource(
        client,
        cache_client,
        prefix="hm:mood:audience",
        not_found=errors.MoodNotFound,
        ttl=AUDIENCE_TTL_SECONDS,
        owner_ttl=OWNER_TTL_SECONDS,
    )


def audience(source: AudienceSource, owner_id: uuid.UUID, viewer_id: uuid.UUID) -> Audience:
    """What `viewer_id` may see of `owner_id`'s moods; 404 if the owner does not exist."""
    if owner_id == viewer_id:
        settings = source.get(owner_id, viewer_id)
        return Audience(owner_id, viewer_id, settings["timezone"], False)
    settings = source.get(owner_id, viewer_id, refuses=lambda s: not admits(s))
    return Audience(owner_id, viewer_id, settings["timezone"], admits(settings))
