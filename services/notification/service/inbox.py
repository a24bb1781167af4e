"""Notifications: creation with a per-user sequence, and the owner's list, read and delete."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import func, select, text, update

from services.notification import errors
from services.notification.models import Delivery, Notification, db
from services.notification.service import preferences
from shared.errors import ValidationFailed
from shared.pagination import decode_cursor, encode_cursor
from shared.wake import NOTIFICATION_WAKE_CHANNEL, wake_message

log = logging.getLogger("hugmood.notification")


@dataclass(frozen=True)
class EmailDraft:
    """An email to send if the owner's preferences ask for it.

    `to` is given only where the event carries the address (a password reset); otherwise it is
    None and the owner's address is asked of the auth service when the email goes out, so no
    address is ever stored here.
    """

    to: str | None
    subject: str
    body: str


@dataclass(frozen=True)
class Draft:
    """A notification to create for one user, and the email that goes with it."""

    user_id: uuid.UUID
    type: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    email: EmailDraft | None = None


@dataclass
class Outcome:
    """What to do after the transaction commits: users to wake (with what was created for them, in
    seq order), deliveries to enqueue."""

    created: dict[uuid.UUID, list[Notification]] = field(default_factory=dict)
    deliveries: list[uuid.UUID] = field(default_factory=list)


def parse_id(raw: str, what: str = "notification") -> uuid.UUID:
    """An id from a path; malformed ids are unknown ids (404)."""
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError):
        error = errors.DeviceNotFound if what == "device" else errors.NotificationNotFound
        raise error(f"No such {what}.") from None


# One round trip for both: allocate the user's next sequence number and insert the row with it.
#
# The upsert takes a row lock on the user's counter that is held until commit, so two transactions
# creating notifications for one user run one after the other: per user, commit order equals seq
# order. A poller reading "seq > cursor" therefore never sees seq 8 committed while seq 7 is still
# in flight (which a plain sequence or max(seq)+1 would allow, and the cursor would then skip 7).
_INSERT_WITH_NEXT_SEQ = text(
    "WITH counter AS ("
    " INSERT INTO notification_counters (user_id, seq) VALUES (:user_id, 1)"
    " ON CONFLICT (user_id) DO UPDATE SET seq = notification_counters.seq + 1 RETURNING seq)"
    " INSERT INTO notifications (id, user_id, seq, type, title, body, data, is_read)"
    " SELECT :id, :user_id, counter.seq, :type, :title, :body, CAST(:data AS jsonb), false FROM counter"
    " RETURNING seq, data, created_at"
)


def insert_notification(draft: Draft) -> Notification:
    """Add the draft's notification, with the user's next sequence number, to the caller's
    transaction; the notification as stored (not attached to the session)."""
    notification_id = uuid.uuid4()
    seq, data, created_at = db.session.execute(
        _INSERT_WITH_NEXT_SEQ,
        {
            "id": notification_id,
            "user_id": draft.user_id,
            "type": draft.type,
            "title": draft.title,
            "body": draft.body,
            "data": json.dumps(draft.data),
        },
    ).one()
    return Notification(
        id=notification_id,
        user_id=draft.user_id,
        seq=seq,
        type=draft.type,
        title=draft.title,
        body=draft.body,
        data=data,
        is_read=False,
        read_at=None,
        created_at=created_at,
    )


def current_seq(user_id: uuid.UUID) -> int:
    """The last committed sequence number of the user (0 if none)."""
    value = db.session.execute(
        text("SELECT seq FROM notification_counters WHERE user_id = :u"), {"u": user_id}
    ).scalar_one_or_none()
    return value or 0


def create(drafts: list[Draft], *, timezone_of: Any, now: datetime | None = None) -> Outcome:
    """Store each draft per its owner's preferences, with its push and email deliveries.

    Everything is read first (preferences, devices, the owner's time zone over HTTP) and only then
    are counters locked, so no lock is held across a call to another service. The caller commits.
    """
    now = now or datetime.now(UTC)
    plans = []
    for draft in drafts:
        prefs, active_devices = preferences.with_active_devices(draft.user_id)
        channels = prefs["types"][draft.type]
        devices = active_devices if channels["push"] else []
        push_due = now
        if devices and prefs["quiet_hours"]:
            held = preferences.quiet_until(now, prefs["quiet_hours"], timezone_of(draft.user_id))
            push_due = held or now
        plans.append((draft, channels, devices, push_due))

    outcome = Outcome()
    # Lock counters in one global order (by user id) so two events for overlapping groups of users
    # cannot deadlock on each other's counter rows.
    for draft, channels, devices, push_due in sorted(plans, key=lambda plan: str(plan[0].user_id)):
        notification_id = None
        if channels["in_app"]:
            notification = insert_notification(draft)  # sent at once: before its deliveries' flush
            outcome.created.setdefault(draft.user_id, []).append(notification)
            notification_id = notification.id
        push_payload = {"title": draft.title, "body": draft.body, "data": draft.data}
        rows = [Delivery(device_id=device, channel="push", payload=push_payload, due_at=push_due) for device in devices]
        if channels["email"] and draft.email is not None:
            email = draft.email
            payload = {"subject": email.subject, "body": email.body}
            if email.to is not None:
                payload["to"] = email.to
            # Due now even in quiet hours: they hold back push only.
            rows.append(Delivery(channel="email", payload=payload, due_at=now))
        for row in rows:
            row.id, row.notification_id = uuid.uuid4(), notification_id
            row.user_id, row.type, row.status, row.attempts = draft.user_id, draft.type, "pending", 0
            # Due now: enqueued right after commit. Held (quiet hours): the sweep enqueues it when due.
            row.enqueued_at = now if row.due_at <= now else None
            db.session.add(row)
            if row.due_at <= now:
                outcome.deliveries.append(row.id)
    db.session.flush()
    return outcome


def wake(
    redis_client: redis.Redis,
    created: dict[uuid.UUID, list[Notification]],
    dump: Callable[[list[Notification]], list[dict[str, Any]]],
) -> None:
    """Publish a wake-up per user, after commit, with the news: what was created, in its API form
    (`dump`), and the cursors before and after it (shared.wake). Lossless without it: polls
    re-check by cursor."""
    for user_id, notifications in created.items():
        # Their seqs are consecutive: the user's counter row stayed locked until the commit.
        news = {
            "after": encode_cursor(notifications[0].seq - 1),
            "cursor": encode_cursor(notifications[-1].seq),
            "items": dump(notifications),
        }
        try:
            redis_client.publish(NOTIFICATION_WAKE_CHANNEL, wake_message(user_id, news))
        except redis.RedisError:
            log.warning("wake-up not published", extra={"user_id": str(user_id)})


def seq_from_cursor(cursor: str) -> int:
    """The sequence number inside an opaque cursor; 422 for anything else."""
    (raw,) = decode_cursor(cursor, 1)
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed("The cursor is invalid.", errors={"cursor": ["Invalid cursor."]})
    return int(raw)


def newer_than(user_id: uuid.UUID, seq: int, limit: int = 100) -> list[Notification]:
    """The user's notifications after `seq`, oldest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.seq > seq)
        .order_by(Notification.seq)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def unread(user_id: uuid.UUID, limit: int = 100) -> list[Notification]:
    """The user's unread notifications, oldest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.is_read.is_(False))
        .order_by(Notification.seq)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def listing(*, user_id: uuid.UUID, args: dict[str, Any]) -> tuple[list[Notification], str | None]:
    """The user's notifications newest first (optionally unread only), keyset-paginated by seq."""
    query = select(Notification).where(Notification.user_id == user_id)
    if args.get("unread"):
        query = query.where(Notification.is_read.is_(False))
    if args.get("cursor"):
        query = query.where(Notification.seq < seq_from_cursor(args["cursor"]))
    limit = args["limit"]
    rows = list(db.session.execute(query.order_by(Notification.seq.desc()).limit(limit + 1)).scalars())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(rows[limit - 1].seq)


def _owned(notification_id: uuid.UUID, user_id: uuid.UUID) -> Notification:
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise errors.NotificationNotFound("No such notification.")
    return notification


def read(*, notification_id: uuid.UUID, user_id: uuid.UUID) -> Notification:
    """The caller's notification; 404 for anyone else's."""
    return _owned(notification_id, user_id)


def mark_read(*, notification_id: uuid.UUID, user_id: uuid.UUID) -> Notification:
    """Mark one of the caller's notifications read (idempotent)."""
    notification = _owned(notification_id, user_id)
    if not notification.is_read:
        notification.is_read, notification.read_at = True, datetime.now(UTC)
    db.session.commit()
    return notification


def mark_all_read(*, user_id: uuid.UUID) -> int:
    """Mark every unread notification of the caller read; return how many changed."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.is_read.is_(False))
        .values(is_read=True, read_at=func.now())
    )
    db.session.commit()
    return result.rowcount


def remove(*, notification_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Delete one of the caller's notifications."""
    db.session.delete(_owned(notification_id, user_id))
    db.session.commit()
