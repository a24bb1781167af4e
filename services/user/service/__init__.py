"""User business logic: profiles, privacy, friendships, blocks, search, audience checks, and the
caller's data export."""

from services.user.service.account import export_account
from services.user.service.audience import audience
from services.user.service.profiles import (
    LAST_ACTIVE_EVERY_SECONDS,
    AuthLookup,
    auth_lookup_via,
    create_profile,
    get_privacy,
    get_profile,
    get_profiles,
    profile_view,
    profile_views,
    touch_last_active,
    update_privacy,
    update_profile,
)
from services.user.service.relations import answer, are_friends, has_blocked, list_relations, remove, request_friendship
from services.user.service.search import search

__all__ = [
    "LAST_ACTIVE_EVERY_SECONDS",
    "AuthLookup",
    "answer",
    "are_friends",
    "audience",
    "auth_lookup_via",
    "create_profile",
    "export_account",
    "get_privacy",
    "get_profile",
    "get_profiles",
    "has_blocked",
    "list_relations",
    "profile_view",
    "profile_views",
    "remove",
    "request_friendship",
    "search",
    "touch_last_active",
    "update_privacy",
    "update_profile",
]
