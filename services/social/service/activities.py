"""Activities: create, read, delete, and the two feeds (fan-out on read over the local graph)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, union_all
from sqlalchemy.dialects.postgresql import insert

from services.social import errors
from services.social.models import Activity, Block, Friendship, db
from shared.pagination import keyset_query, paginate


def create(*, user_id: uuid.UUID, data: dict[str, Any]) -> Activity:
    """Record an activity of `user_id` (the body never names the owner)."""
    activity = Activity(id=uuid.uuid4(), user_id=user_id, data=data.pop("data", {}), **data)
    db.session.add(activity)
    db.session.commit()
    return activity


def record_event_activity(
    *,
    source_event_id: uuid.UUID,
    user_id: uuid.UUID,
    type: str,
    visibility: str,
    object_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add the activity an event makes, at most once per source event (caller commits)."""
    db.session.execute(
        insert(Activity)
        .values(
            id=uuid.uuid4(),
            user_id=user_id,
            type=type,
            object_id=object_id,
            data=data or {},
            visibility=visibility,
            source_event_id=source_event_id,
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["source_event_id"])
    )


def _friends_of(viewer_id: uuid.UUID) -> Any:
    return select(Friendship.friend_id).where(Friendship.user_id == viewer_id)


def _not_blocked(viewer_id: uuid.UUID) -> Any:
    """Neither the author blocked the viewer nor the viewer the author."""
    return ~exists().where(
        or_(
            and_(Block.blocker_id == viewer_id, Block.blocked_id == Activity.user_id),
            and_(Block.blocker_id == Activity.user_id, Block.blocked_id == viewer_id),
        )
    )


def _own(viewer_id: uuid.UUID) -> Any:
    return Activity.user_id == viewer_id


def _friends(viewer_id: uuid.UUID) -> Any:
    return and_(
        Activity.user_id.in_(_friends_of(viewer_id)),
        Activity.visibility.in_(("public", "friends")),
        _not_blocked(viewer_id),
    )


def _strangers_public(viewer_id: uuid.UUID) -> Any:
    return and_(
        Activity.visibility == "public",
        Activity.user_id != viewer_id,
        Activity.user_id.not_in(_friends_of(viewer_id)),
        _not_blocked(viewer_id),
    )


def _page(branches: list[Any], args: dict[str, Any]) -> tuple[list[Activity], str | None]:
    """One query: each branch is a keyset range on its own index; the union is cut to one page."""
    order = {"time_column": Activity.created_at, "id_column": Activity.id}

    def keyset(branch: Any) -> Any:
        return keyset_query(select(Activity.id).where(branch), **order, limit=args["limit"], cursor=args.get("cursor"))

    ids = union_all(*(select(keyset(b).subquery().c.id) for b in branches)).subquery()
    return paginate(db.session, select(Activity).where(Activity.id.in_(select(ids.c.id))), **order, page=args)


def feed(*, viewer_id: uuid.UUID, args: dict[str, Any]) -> tuple[list[Activity], str | None]:
    """The viewer's own activities, friends' public and friends-only ones, strangers' public ones."""
    return _page([_own(viewer_id), _friends(viewer_id), _strangers_public(viewer_id)], args)


def friends_activity(*, viewer_id: uuid.UUID, args: dict[str, Any]) -> tuple[list[Activity], str | None]:
    """Friends' public and friends-only activities only."""
    return _page([_friends(viewer_id)], args)


def read(*, activity_id: uuid.UUID, viewer_id: uuid.UUID) -> Activity:
    """One activity if the viewer may see it; 404 otherwise (its existence stays secret)."""
    visible = or_(_own(viewer_id), _friends(viewer_id), _strangers_public(viewer_id))
    activity = db.session.execute(select(Activity).where(Activity.id == activity_id, visible)).scalar_one_or_none()
    if activity is None:
        raise errors.ActivityNotFound("No such activity.")
    return activity


def remove(*, activity_id: uuid.UUID, viewer_id: uuid.UUID) -> None:
    """Delete the viewer's own activity; anyone else's is 404."""
    removed = db.session.execute(
        delete(Activity).where(Activity.id == activity_id, Activity.user_id == viewer_id)
    ).rowcount
    if not removed:
        raise errors.ActivityNotFound("No such activity.")
    db.session.commit()
