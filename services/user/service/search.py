"""Finding users by name."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, func, or_, select

from services.user.models import Block, Profile, db
from shared.pagination import decode_cursor, encode_cursor


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(*, caller_id: uuid.UUID, q: str, limit: int, cursor: str | None) -> tuple[list[Profile], str | None]:
    """Case-insensitive substring match on username and display name, ordered by username;
    never lists anyone who blocked the caller. `%`, `_` and quotes match literally."""
    pattern = f"%{_escape_like(q.lower())}%"
    query = select(Profile).where(
        or_(
            func.lower(Profile.username).like(pattern, escape="\\"),
            func.lower(Profile.display_name).like(pattern, escape="\\"),
        ),
        ~exists().where(Block.blocker_id == Profile.user_id, Block.blocked_id == caller_id),
    )
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(func.lower(Profile.username) > after)
    found = db.session.execute(query.order_by(func.lower(Profile.username)).limit(limit + 1)).scalars().all()
    next_cursor = encode_cursor(found[limit - 1].username.lower()) if len(found) > limit else None
    return list(found[:limit]), next_cursor
