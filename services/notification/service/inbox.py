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
from sqlalchemy import bindparam, func, select, text, update

from services.notification import errors
from services.notification.models import Notification, db
from services.notification.service import preferences
from shared.conditional import Precondition
from shared.db import PreparedStatement, outside_transaction
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


# The whole of an event's effect, in one statement run on its own (its own transaction, one round
# trip): claim the event for the consumer and, only if the claim is new, take each user's next
# sequence numbers, insert the notifications, and insert their push and email deliveries. A
# redelivered event finds its claim taken and changes nothing.
#
# The counter upsert locks each user's counter row until the statement commits, so two events for
# one user are numbered and committed one after the other: per user, commit order equals seq order.
# A poller reading "seq > cursor" therefore never sees seq 8 committed while seq 7 is still in
# flight (which a plain sequence or max(seq)+1 would allow, and the cursor would then skip 7). The
# rows are locked in user id order, so two events for overlapping groups of users cannot deadlock.
# One event's notifications for a user get consecutive numbers, in the drafts' order.
_CREATE = PreparedStatement(
    "notification_create",
    """
WITH claim AS (
    INSERT INTO processed_events (event_id, consumer) VALUES (:event_id, :consumer)
    ON CONFLICT DO NOTHING RETURNING 1
),
drafts AS (
    SELECT d.* FROM jsonb_to_recordset(:notifications)
        AS d(id uuid, user_id uuid, type text, title text, body text, data jsonb, ord int)
    WHERE EXISTS (SELECT FROM claim)
),
counter AS (
    INSERT INTO notification_counters AS c (user_id, seq)
    SELECT user_id, count(*) FROM drafts GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET seq = c.seq + EXCLUDED.seq
    RETURNING user_id, seq
),
created AS (
    INSERT INTO notifications (id, user_id, seq, type, title, body, data, is_read)
    SELECT d.id, d.user_id, counter.seq - count(*) OVER mine + row_number() OVER (mine ORDER BY d.ord),
           d.type, d.title, d.body, d.data, false
    FROM drafts d JOIN counter USING (user_id)
    WINDOW mine AS (PARTITION BY d.user_id)
    RETURNING id, seq, data, created_at
),
sends AS (
    INSERT INTO deliveries
        (id, notification_id, user_id, device_id, channel, type, payload, due_at, enqueued_at, status, attempts)
    SELECT r.id, r.notification_id, r.user_id, r.device_id, r.channel, r.type, r.payload, r.due_at, r.enqueued_at,
           'pending', 0
    FROM jsonb_to_recordset(:deliveries) AS r(id uuid, notification_id uuid, user_id uuid, device_id uuid,
        channel text, type text, payload jsonb, due_at timestamptz, enqueued_at timestamptz)
    WHERE EXISTS (SELECT FROM claim)
)
SELECT (SELECT count(*) FROM claim) AS claimed, created.id::text AS id, created.seq, created.data, created.created_at
FROM (SELECT) AS one LEFT JOIN created ON true
""",
    (("event_id", "uuid"), ("consumer", "text"), ("notifications", "jsonb"), ("deliveries", "jsonb")),
)


def current_seq(user_id: uuid.UUID) -> int:
    """The last committed sequence number of the user (0 if none)."""
    value = db.session.execute(
        text("SELECT seq FROM notification_counters WHERE user_id = :u"), {"u": user_id}
    ).scalar_one_or_none()
    return value or 0


def create(
    drafts: list[Draft], *, event_id: str, consumer: str, timezone_of: Any, now: datetime | None = None
) -> Outcome:
    """Act on an event once: store each draft per its owner's preferences, with its push and email
    deliveries, unless `consumer` already handled `event_id` (then nothing changes and the outcome
    is empty).

    Two statements, each on its own: the owners' preferences and devices are read first (and their
    time zones over HTTP, for quiet hours), then one statement claims the event and writes
    everything (`_CREATE`), so no lock is held across a call to another service and the writes
    commit together or not at all.
    """
    now = now or datetime.now(UTC)
    outside_transaction(db.session)
    settings = preferences.with_active_devices([draft.user_id for draft in drafts]) if drafts else {}
    notifications, deliveries, stored = [], [], {}
    for ord_, draft in enumerate(drafts):
        prefs, active_devices = settings[draft.user_id]
        channels = prefs["types"][draft.type]
        notification_id = None
        if channels["in_app"]:
            notification_id = uuid.uuid4()
            stored[notification_id] = draft
            notifications.append(
                {
                    "id": str(notification_id),
                    "user_id": str(draft.user_id),
                    "type": draft.type,
                    "title": draft.title,
                    "body": draft.body,
                    "data": draft.data,
                    "ord": ord_,
                }
            )
        sends = []
        if channels["push"] and active_devices:
            due = now
            if prefs["quiet_hours"]:
                due = preferences.quiet_until(now, prefs["quiet_hours"], timezone_of(draft.user_id)) or now
            payload = {"title": draft.title, "body": draft.body, "data": draft.data}
            sends += [("push", device, payload, due) for device in active_devices]
        if channels["email"] and draft.email is not None:
            email = draft.email
            payload = {"subject": email.subject, "body": email.body}
            if email.to is not None:
                payload["to"] = email.to
            sends.append(("email", None, payload, now))  # due now even in quiet hours: they hold back push only
        for channel, device, payload, due in sends:
            deliveries.append(
                {
                    "id": str(uuid.uuid4()),
                    "notification_id": notification_id and str(notification_id),
                    "user_id": str(draft.user_id),
                    "device_id": device and str(device),
                    "channel": channel,
                    "type": draft.type,
                    "payload": payload,
                    "due_at": due.isoformat(),
                    # Due now: enqueued right after the statement. Held (quiet hours): the sweep enqueues it when due.
                    "enqueued_at": now.isoformat() if due <= now else None,
                }
            )
    rows = _CREATE.execute(
        db.session,
        {
            "event_id": event_id,
            "consumer": consumer,
            "notifications": json.dumps(notifications),
            "deliveries": json.dumps(deliveries),
        },
    ).all()
    # Committed already, on its own; this ends the session's transaction where there is one (a
    # session bound to an outer transaction, as in tests) and sends nothing otherwise.
    db.session.commit()
    outcome = Outcome()
    if not rows[0].claimed:
        return outcome
    for row in sorted((row for row in rows if row.id is not None), key=lambda row: row.seq):
        notification_id = uuid.UUID(row.id)
        draft = stored[notification_id]
        outcome.created.setdefault(draft.user_id, []).append(
            Notification(
                id=notification_id,
                user_id=draft.user_id,
                seq=row.seq,
                type=draft.type,
                title=draft.title,
                body=draft.body,
                data=row.data,
                is_read=False,
                read_at=None,
                created_at=row.created_at,
            )
        )
    outcome.deliveries = [uuid.UUID(d["id"]) for d in deliveries if d["enqueued_at"] is not None]
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
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # str.isdigit alone admits "²"
        raise ValidationFailed("The cursor is invalid.", errors={"cursor": ["Invalid cursor."]})
    return int(raw)


# Built once: every poll runs one of them, and building a SQLAlchemy expression costs more Python
# than executing the compiled statement.
_NEWER = (
    select(Notification)
    .where(Notification.user_id == bindparam("user_id"), Notification.seq > bindparam("seq"))
    .order_by(Notification.seq)
    .limit(bindparam("limit"))
)
_UNREAD = (
    select(Notification)
    .where(Notification.user_id == bindparam("user_id"), Notification.is_read.is_(False))
    .order_by(Notification.seq)
    .limit(bindparam("limit"))
)


def newer_than(user_id: uuid.UUID, seq: int, limit: int = 100) -> list[Notification]:
    """The user's notifications after `seq`, oldest first."""
    return list(db.session.execute(_NEWER, {"user_id": user_id, "seq": seq, "limit": limit}).scalars())


def unread(user_id: uuid.UUID, limit: int = 100) -> list[Notification]:
    """The user's unread notifications, oldest first."""
    return list(db.session.execute(_UNREAD, {"user_id": user_id, "limit": limit}).scalars())


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


def _owned(notification_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False) -> Notification:
    """The caller's notification (`lock`: FOR UPDATE, read afresh, for a write); 404 for anyone else's."""
    if lock:
        notification = db.session.get(Notification, notification_id, with_for_update=True, populate_existing=True)
    else:
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


def remove(*, notification_id: uuid.UUID, user_id: uuid.UUID, precondition: Precondition[Notification] = None) -> None:
    """Delete one of the caller's notifications; `precondition` (If-Match) checked on the locked row."""
    notification = _owned(notification_id, user_id, lock=True)
    if precondition is not None:
        precondition(notification)
    db.session.delete(notification)
    db.session.commit()
