"""The caller's section of their data export: what the user service keeps about them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import literal, select, union_all

from services.user import schemas
from services.user.models import Block, FriendRequest, Friendship, Privacy, Profile, db

_profile_export = schemas.ProfileOut()
_privacy_export = schemas.PrivacyExport()
_relations_export = schemas.Relation(many=True)


def export_account(user_id: str) -> dict[str, Any]:
    """The caller's section of their data export: profile, privacy settings, friends, friend
    requests both ways, and the users they blocked (never who blocked them), oldest first."""
    owner = uuid.UUID(user_id)
    profile, privacy = db.session.get(Profile, owner), db.session.get(Privacy, owner)
    kinds = {
        "friends": (Friendship.friend_id, Friendship.created_at, Friendship.user_id == owner),
        "friend_requests_sent": (
            FriendRequest.addressee_id,
            FriendRequest.created_at,
            FriendRequest.requester_id == owner,
        ),
        "friend_requests_received": (
            FriendRequest.requester_id,
            FriendRequest.created_at,
            FriendRequest.addressee_id == owner,
        ),
        "blocked": (Block.blocked_id, Block.created_at, Block.blocker_id == owner),
    }
    relations = union_all(
        *(
            select(other.label("user_id"), since.label("since"), literal(kind).label("kind")).where(where)
            for kind, (other, since, where) in kinds.items()
        )
    ).subquery()
    rows = db.session.execute(
        select(relations, Profile.username, Profile.display_name)
        .outerjoin(Profile, Profile.user_id == relations.c.user_id)
        .order_by(relations.c.since, relations.c.user_id)
    ).mappings()
    grouped: dict[str, list[Any]] = {kind: [] for kind in kinds}
    for row in rows:
        grouped[row["kind"]].append(row)
    return {
        "profile": _profile_export.dump(profile) if profile is not None else None,
        "privacy": _privacy_export.dump(privacy) if privacy is not None else None,
        **{kind: _relations_export.dump(found) for kind, found in grouped.items()},
    }
