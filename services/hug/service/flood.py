"""Flood limits on what reaches another person: hug requests and group hug invites, per pair.

Each one may notify (and email) its recipient with text the sender chose, so like hugs they are
counted per sender and recipient in a sliding window, in PostgreSQL under a transaction-scoped
advisory lock on the pair: concurrent sends of one pair serialize, and a Redis outage neither lets
a flood through nor refuses everything.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, select, text

from services.hug import errors
from services.hug.models import GroupHug, GroupHugParticipant, HugRequest, db
from shared.clock import utcnow

# Community requests (no recipient) are counted as one more "recipient" per requester.
COMMUNITY = uuid.UUID(int=0)

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_RECENT_REQUESTS = select(func.count(), func.min(HugRequest.created_at)).where(
    HugRequest.requester_id == bindparam("requester"),
    HugRequest.created_at > bindparam("since"),
)
_RECENT_INVITES = (
    select(GroupHugParticipant.user_id, func.count(), func.min(GroupHug.created_at))
    .join(GroupHug, GroupHug.id == GroupHugParticipant.group_hug_id)
    .where(
        GroupHug.creator_id == bindparam("creator"),
        GroupHug.created_at > bindparam("since"),
        GroupHugParticipant.user_id.in_(bindparam("invitees", expanding=True)),
    )
    .group_by(GroupHugParticipant.user_id)
)


def _lock_key(kind: bytes, sender_id: uuid.UUID, recipient_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(kind + b":" + sender_id.bytes + recipient_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_pairs(kind: bytes, sender_id: uuid.UUID, recipients: Iterable[uuid.UUID]) -> None:
    # Always in key order, so two transactions locking overlapping sets cannot deadlock.
    for key in sorted({_lock_key(kind, sender_id, r) for r in recipients}):
        db.session.execute(_LOCK, {"key": key})


def _retry_after(oldest: datetime, window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((oldest.astimezone(UTC) + window - now).total_seconds()))


def check_hug_request(
    requester_id: uuid.UUID, recipient_id: uuid.UUID | None, *, limit: int, window_seconds: int
) -> None:
    """429 if the requester already asked this recipient (or the community) `limit` times in the window."""
    target = recipient_id or COMMUNITY
    _lock_pairs(b"hug-request-flood", requester_id, [target])
    now = utcnow()
    window = timedelta(seconds=window_seconds)
    query = _RECENT_REQUESTS.where(
        HugRequest.recipient_id.is_(None) if recipient_id is None else HugRequest.recipient_id == recipient_id
    )
    count, oldest = db.session.execute(query, {"requester": requester_id, "since": now - window}).one()
    if count >= limit:
        whom = "the community" if recipient_id is None else "this person"
        raise errors.HugRequestFlood(
            f"You have asked {whom} for a hug {count} times recently; try again later.",
            headers={"Retry-After": str(_retry_after(oldest, window, now))},
        )


def check_group_invites(creator_id: uuid.UUID, invitees: list[uuid.UUID], *, limit: int, window_seconds: int) -> None:
    """429 if any invitee already had `limit` group hug invites from this creator in the window;
    the flooded invitees are named under participant_ids, and Retry-After is when all are free."""
    _lock_pairs(b"group-invite-flood", creator_id, invitees)
    now = utcnow()
    window = timedelta(seconds=window_seconds)
    rows = db.session.execute(
        _RECENT_INVITES, {"creator": creator_id, "since": now - window, "invitees": invitees}
    ).all()
    flooded = {user_id: oldest for user_id, count, oldest in rows if count >= limit}
    if flooded:
        retry_after = max(_retry_after(oldest, window, now) for oldest in flooded.values())
        raise errors.GroupInviteFlood(
            "You have invited some of these people to group hugs too often recently; try again later.",
            errors={"participant_ids": {str(u): ["Invited too often recently."] for u in flooded}},
            headers={"Retry-After": str(retry_after)},
        )
