"""Social business logic: activities and feeds, the local friend graph, recommendations, shares,
and the caller's data export."""

from services.social.service.account import export_account
from services.social.service.activities import (
    create,
    feed,
    friends_activity,
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
    take_friend_requests,
    unblock,
)
from services.social.service.moods import (
    MOOD_ACTIVITY,
    delete_mood,
    mood_is_public_now,
    mood_shared_visibility,
    owner_settings,
    record_milestone,
    reshare_moods,
    shared_visibility,
    sync_mood,
)
from services.social.service.shares import create_share, revoke_share, share_url, shared_view

__all__ = [
    "MOOD_ACTIVITY",
    "accept_friendship",
    "block",
    "close_request",
    "create",
    "create_share",
    "delete_mood",
    "end_friendship",
    "export_account",
    "feed",
    "friends_activity",
    "mood_is_public_now",
    "mood_shared_visibility",
    "owner_settings",
    "read",
    "recommendations",
    "record_event_activity",
    "record_milestone",
    "remove",
    "request_friendship",
    "reshare_moods",
    "revoke_share",
    "share_url",
    "shared_view",
    "shared_visibility",
    "sync_mood",
    "take_friend_requests",
    "unblock",
]
