"""Social business logic: activities and feeds, the local friend graph, recommendations."""

from services.social.service.activities import (
    create,
    feed,
    friends_activity,
    parse_id,
    read,
    record_event_activity,
    remove,
)
from services.social.service.graph import (
    accept_friendship,
    block,
    close_request,
    end_friendship,
    recommendations,
    request_friendship,
    unblock,
)
from services.social.service.moods import MOOD_ACTIVITY, delete_mood, mood_shared_visibility, reshare_moods, sync_mood

__all__ = [
    "MOOD_ACTIVITY",
    "accept_friendship",
    "block",
    "close_request",
    "create",
    "delete_mood",
    "end_friendship",
    "feed",
    "friends_activity",
    "mood_shared_visibility",
    "parse_id",
    "read",
    "recommendations",
    "record_event_activity",
    "remove",
    "request_friendship",
    "reshare_moods",
    "sync_mood",
    "unblock",
]
