"""Hugs: send (with the recipient's privacy and a per-pair flood limit), read, mark read, list."""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text, update

from services.hug import errors
from services.hug.models import Hug, OutboxEvent, db
from services.hug.service.audience import admits_hugs, refuses_hugs
from services.hug.service.catalogue import label_of
from shared.audience import AudienceSource
from shared.clock import utcnow
from shared.events import publish
from shared.pagination import paginate


def pair_lock_key(sender_id: uuid.UUID, recipient_id: uuid.UUID) -> int:
    """A signed 64-bit advisory-lock key for one (sender, recipient) pair."""
    digest = hashlib.blake2b(b"hug-flood:" + sender_id.bytes + recipient_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def insert_hug(
    *,
    sender_id: uuid.UUID,
    recipient_id: uuid.UUID,
    hug_type: str,
    message: str | None,
    hug_id: uuid.UUID | None = None,
    hug_request_id: uuid.UUID | None = None,
    group_hug_id: uuid.UUID | None = None,
) -> Hug:
    """Add a hug and its HugSent event to the caller's transaction (not committed here)."""
    hug = Hug(
        id=hug_id or uuid.uuid4(),
        sender_id=sender_id,
        recipient_id=recipient_id,
        type=hug_type,
        message=message,
        is_read=False,
        read_at=None,
        hug_request_id=hug_request_id,
        group_hug_id=group_hug_id,
        created_at=utcnow(),
    )
    db.session.add(hug)
    db.session.flush()
    publish(
        db.session,
        OutboxEvent,
        "HugSent",
        {
            "hug_id": str(hug.id),
            "sender_id": str(sender_id),
            "recipient_id": str(recipient_id),
            "type": hug_type,
            "type_label": label_of(hug_type),
            "message": message,
            "hug_request_id": str(hug_request_id) if hug_request_id else None,
            "group_hug_id": str(group_hug_id) if group_hug_id else None,
        },
    )
    return hug


# Built once: the flood check runs on every hug POST, and building its expressions each time costs
# more Python than executing them.
_PAIR_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_RECENT_TO_PAIR = select(func.count(), func.min(Hug.created_at)).where(
    Hug.sender_id == bindparam("sender"),
    Hug.recipient_id == bindparam("recipient"),
    Hug.created_at > bindparam("since"),
    Hug.hug_request_id.is_(None),
)


def _check_flood(sender_id: uuid.UUID, recipient_id: uuid.UUID, limit: int, window_seconds: int) -> None:
    """429 if this pair already has `limit` hugs in the window.

    Counted in PostgreSQL under a transaction-scoped advisory lock on the pair, so concurrent sends
    of one pair serialize and a Redis outage neither lets a flood through nor refuses every hug.
    Hugs that answer a hug request are neither limited nor counted.
    """
    db.session.execute(_PAIR_LOCK, {"key": pair_lock_key(sender_id, recipient_id)})
    now = utcnow()
    window = timedelta(seconds=window_seconds)
    count, oldest = db.session.execute(
        _RECENT_TO_PAIR, {"sender": sender_id, "recipient": recipient_id, "since": now - window}
    ).one()
    if count >= limit:
        retry_after = max(1, math.ceil((oldest.astimezone(UTC) + window - now).total_seconds()))
        raise errors.HugFlood(
            f"You have sent this person {count} hugs recently; try again later.",
            headers={"Retry-After": str(retry_after)},
        )


def send(
    *,
    sender_id: uuid.UUID,
    data: dict[str, Any],
    audience: AudienceSource,
    flood_limit: int,
    flood_window_seconds: int,
) -> Hug:
    """Send a hug if the recipient's allow_hugs_from admits the sender and neither blocked the other."""
    recipient_id: uuid.UUID = data["recipient_id"]
    if recipient_id == sender_id:
        raise errors.HugToSelf("You cannot send a hug to yourself.", errors={"recipient_id": ["Must not be yourself."]})
    if not admits_hugs(audience.get(recipient_id, sender_id, refuses=refuses_hugs)):
        raise errors.HugsNotAccepted("This person does not accept hugs from you.")
    _check_flood(sender_id, recipient_id, flood_limit, flood_window_seconds)
    hug = insert_hug(sender_id=sender_id, recipient_id=recipient_id, hug_type=data["type"], message=data.get("message"))
    # Every column was set here, so the answer needs no re-read after the commit (which would expire it).
    db.session.expunge(hug)
    db.session.commit()
    return hug


def read(*, hug_id: uuid.UUID, viewer_id: uuid.UUID) -> Hug:
    """A hug its sender or recipient may see; 404 for anyone else (its existence stays secret)."""
    hug = db.session.get(Hug, hug_id)
    if hug is None or viewer_id not in (hug.sender_id, hug.recipient_id):
        raise errors.HugNotFound("No such hug.")
    return hug


def shareable(*, hug_id: uuid.UUID) -> Hug:
    """Any hug, for the social service's share checks (the caller decides who owns it)."""
    hug = db.session.get(Hug, hug_id)
    if hug is None:
        raise errors.HugNotFound("No such hug.")
    return hug


def mark_read(*, hug_id: uuid.UUID, viewer_id: uuid.UUID) -> Hug:
    """Mark a received hug read (idempotent: a second call keeps the first read_at); the sender gets 403."""
    hug = read(hug_id=hug_id, viewer_id=viewer_id)
    if hug.recipient_id != viewer_id:
        raise errors.NotTheRecipient("Only the recipient may mark a hug read.")
    db.session.execute(
        update(Hug)
        .where(Hug.id == hug_id, Hug.is_read.is_(False))
        .values(is_read=True, read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(hug)
    return hug


def _page(query: Any, args: dict[str, Any]) -> tuple[list[Hug], str | None]:
    return paginate(db.session, query, time_column=Hug.created_at, id_column=Hug.id, page=args)


def received(*, user_id: uuid.UUID, args: dict[str, Any]) -> tuple[list[Hug], str | None]:
    """Hugs received, newest first; `unread` true keeps the unread ones, false the read ones."""
    query = select(Hug).where(Hug.recipient_id == user_id)
    if args.get("unread") is not None:
        query = query.where(~Hug.is_read if args["unread"] else Hug.is_read)
    return _page(query, args)


def sent(*, user_id: uuid.UUID, args: dict[str, Any]) -> tuple[list[Hug], str | None]:
    """Hugs sent, newest first."""
    return _page(select(Hug).where(Hug.sender_id == user_id), args)
