"""Hug days: when each user sent or received a hug, learnt from HugSent events."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from services.mood.models import HugDay, db
from shared.sqlstate import is_erasure_refusal


def record_hug(*, hug_id: uuid.UUID, sender_id: uuid.UUID, recipient_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
    """The sender's "sent" and the recipient's "received" hug, each once (a redelivery adds
    nothing), in the caller's transaction. A side naming an erased user is refused by its guard and
    skipped (in a savepoint), the other side is kept. Returns the users whose row is kept."""
    kept = []
    for user_id, direction in ((sender_id, "sent"), (recipient_id, "received")):
        try:
            with db.session.begin_nested():
                db.session.execute(
                    insert(HugDay)
                    .values(user_id=user_id, hug_id=hug_id, direction=direction, occurred_at=at)
                    .on_conflict_do_nothing()
                )
        except DBAPIError as exc:
            if not is_erasure_refusal(exc):
                raise
            continue
        kept.append(user_id)
    return kept
