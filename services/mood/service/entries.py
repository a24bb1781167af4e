"""Mood entries: record, read, change, delete and list, with the visibility rule applied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.mood import errors
from services.mood.models import MoodEntry, OutboxEvent, db
from services.mood.service.audience import Audience
from shared.conditional import Precondition
from shared.events import publish
from shared.pagination import paginate


def _announce(entry: MoodEntry, event_type: str) -> None:
    """Events carry ids and flags only: never the note or the label."""
    publish(
        db.session,
        OutboxEvent,
        event_type,
        {
            "mood_id": str(entry.id),
            "user_id": str(entry.user_id),
            "is_public": entry.is_public,
            "recorded_at": entry.recorded_at.astimezone(UTC).isoformat(),
        },
    )


def record(*, user_id: uuid.UUID, data: dict[str, Any]) -> MoodEntry:
    """Record a mood for `user_id` (never for anyone else: the body cannot name a user)."""
    entry = MoodEntry(id=uuid.uuid4(), user_id=user_id, **{"recorded_at": datetime.now(UTC), **data})
    db.session.add(entry)
    db.session.flush()
    _announce(entry, "MoodRecorded")
    db.session.commit()
    return entry


def record_batch(*, user_id: uuid.UUID, rows: list[dict[str, Any]]) -> int:
    """Record many moods for `user_id` in the caller's transaction (it commits), announced by one
    `MoodsImported` for the batch (ids and times only, like every mood event). A row with an
    `import_key` the user already has is skipped; returns how many were created. One statement,
    compiled once."""
    if not rows:
        return 0
    table = MoodEntry.__table__
    values = [{"id": uuid.uuid4(), "user_id": user_id, "is_public": False, **row} for row in rows]
    created = (
        db.session.execute(
            insert(table)
            .on_conflict_do_nothing(
                index_elements=["user_id", "import_key"], index_where=table.c.import_key.isnot(None)
            )
            .returning(table.c.recorded_at),
            values,
        )
        .scalars()
        .all()
    )
    if created:
        publish(
            db.session,
            OutboxEvent,
            "MoodsImported",
            {
                "user_id": str(user_id),
                "count": len(created),
                "first_recorded_at": min(created).astimezone(UTC).isoformat(),
                "last_recorded_at": max(created).astimezone(UTC).isoformat(),
            },
        )
    return len(created)


def _load(mood_id: uuid.UUID, *, lock: bool = False) -> MoodEntry:
    """The entry; `lock`: FOR UPDATE, read afresh (a writer's If-Match is checked on it)."""
    if lock:
        entry = db.session.get(MoodEntry, mood_id, with_for_update=True, populate_existing=True)
    else:
        entry = db.session.get(MoodEntry, mood_id)
    if entry is None:
        raise errors.MoodNotFound("No such mood entry.")
    return entry


def shareable(*, mood_id: uuid.UUID) -> MoodEntry:
    """Any entry, for the social service's share checks (the caller decides what may be shown)."""
    return _load(mood_id)


def visible(entry: MoodEntry, audience: Audience) -> bool:
    return audience.is_owner or (audience.sees_public and entry.is_public)


def read(*, mood_id: uuid.UUID, viewer_id: uuid.UUID, audience_of: Any, lock: bool = False) -> MoodEntry:
    """The entry if the viewer may see it; 404 otherwise, never 403 (its existence stays secret)."""
    entry = _load(mood_id, lock=lock)
    if entry.user_id != viewer_id and not visible(entry, audience_of(entry.user_id)):
        raise errors.MoodNotFound("No such mood entry.")
    return entry


def _owned(
    mood_id: uuid.UUID, viewer_id: uuid.UUID, audience_of: Any, precondition: Precondition[MoodEntry]
) -> MoodEntry:
    """The caller's own entry, locked for a write, with the request's If-Match checked on it."""
    entry = read(mood_id=mood_id, viewer_id=viewer_id, audience_of=audience_of, lock=True)
    if entry.user_id != viewer_id:
        raise errors.NotYourMood("Only the owner may change this entry.")
    if precondition is not None:
        precondition(entry)
    return entry


def change(
    *,
    mood_id: uuid.UUID,
    viewer_id: uuid.UUID,
    data: dict[str, Any],
    audience_of: Any,
    precondition: Precondition[MoodEntry] = None,
) -> MoodEntry:
    entry = _owned(mood_id, viewer_id, audience_of, precondition)
    for field, value in data.items():
        setattr(entry, field, value)
    entry.updated_at = datetime.now(UTC)
    _announce(entry, "MoodUpdated")
    db.session.commit()
    return entry


def remove(
    *, mood_id: uuid.UUID, viewer_id: uuid.UUID, audience_of: Any, precondition: Precondition[MoodEntry] = None
) -> None:
    entry = _owned(mood_id, viewer_id, audience_of, precondition)
    _announce(entry, "MoodDeleted")
    db.session.delete(entry)
    db.session.commit()


def history(*, audience: Audience, args: dict[str, Any]) -> tuple[list[MoodEntry], str | None]:
    """Entries newest first, filtered, keyset-paginated; a non-owner gets only what is visible."""
    query = select(MoodEntry).where(MoodEntry.user_id == audience.owner_id)
    if not audience.is_owner:
        if not audience.sees_public:
            return [], None
        query = query.where(MoodEntry.is_public.is_(True))
    if "from_" in args:
        query = query.where(MoodEntry.recorded_at >= args["from_"])
    if "to" in args:
        query = query.where(MoodEntry.recorded_at <= args["to"])
    if "mood" in args:
        query = query.where(MoodEntry.mood == args["mood"])
    if "tag" in args:
        query = query.where(MoodEntry.tags.contains([args["tag"]]))
    return paginate(db.session, query, time_column=MoodEntry.recorded_at, id_column=MoodEntry.id, page=args)
