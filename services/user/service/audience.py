"""What other services ask about a pair of users (privacy and relations), in one answer."""

from __future__ import annotations

import uuid
from typing import Any

from services.user.models import Privacy, db
from services.user.service.profiles import AuthLookup, get_profile
from services.user.service.relations import are_friends, has_blocked


def audience(*, owner_id: uuid.UUID, viewer_id: uuid.UUID, auth_lookup: AuthLookup) -> dict[str, Any]:
    """What another service needs to decide what `viewer_id` may see of, or send to, `owner_id`."""
    profile = get_profile(owner_id, auth_lookup=auth_lookup)
    privacy = db.session.get(Privacy, owner_id)
    return {
        "user_id": str(owner_id),
        "viewer_id": str(viewer_id),
        "timezone": profile.timezone,
        "share_moods_with": privacy.share_moods_with,
        "allow_hugs_from": privacy.allow_hugs_from,
        "allow_friend_requests": privacy.allow_friend_requests,
        "friends": owner_id != viewer_id and are_friends(owner_id, viewer_id),
        "blocked": owner_id != viewer_id and (has_blocked(owner_id, viewer_id) or has_blocked(viewer_id, owner_id)),
    }
