"""The caller's section of their data export: what the social service keeps about them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.social import schemas
from services.social.models import Activity, Block, FriendRequest, Friendship, Share, db
from services.social.service.shares import share_url

_activities = schemas.Activity(many=True)
_share = schemas.OwnShare()
_relations = schemas.Relation(many=True)


def _relations_of(other: Any, since: Any, where: Any) -> list[dict[str, Any]]:
    """The other side and the start of each relation `where` selects, oldest first."""
    rows = db.session.execute(select(other.label("user_id"), since.label("since")).where(where).order_by(since, other))
    return _relations.dump(rows.mappings().all())


def export_account(user_id: str, *, base_url: str) -> dict[str, Any]:
    """The user's own activities (every visibility), their shares (revoked ones too) with their
    URLs, their friends, the users they block and their pending requests both ways.

    Nothing of anyone else's beyond those ids: not others' activities (even those naming the
    user), nor who blocks the user. One query per list.
    """
    owner = uuid.UUID(user_id)
    activities = db.session.execute(
        select(Activity).where(Activity.user_id == owner).order_by(Activity.created_at, Activity.id)
    ).scalars()
    shares = db.session.execute(
        select(Share).where(Share.owner_id == owner).order_by(Share.created_at, Share.id)
    ).scalars()
    return {
        "activities": _activities.dump(activities),
        "shares": [{**_share.dump(share), "share_url": share_url(base_url, share.token)} for share in shares],
        "friends": _relations_of(Friendship.friend_id, Friendship.created_at, where=Friendship.user_id == owner),
        "blocked": _relations_of(Block.blocked_id, Block.created_at, where=Block.blocker_id == owner),
        "friend_requests_sent": _relations_of(
            FriendRequest.addressee_id, FriendRequest.created_at, where=FriendRequest.requester_id == owner
        ),
        "friend_requests_received": _relations_of(
            FriendRequest.requester_id, FriendRequest.created_at, where=FriendRequest.addressee_id == owner
        ),
    }
