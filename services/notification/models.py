"""Notification service tables, in the `notifications` schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.datarights import Holding, UserData
from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("notification")

TYPES = (
    "hug_received",
    "hug_request",
    "group_hug_invite",
    "friend_request",
    "friend_accepted",
    "streak_milestone",
    "password_reset",
    "email_verification",
)


class Notification(db.Model):
    """One in-app notification; `seq` orders a user's notifications and drives the poll cursor."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    is_read: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        # Polls read "seq > cursor" and lists page by seq: both are ranges of this index.
        UniqueConstraint("user_id", "seq", name="uq_notifications_user_seq"),
        Index("ix_notifications_unread", "user_id", "seq", postgresql_where=text("NOT is_read")),
    )


class NotificationCounter(db.Model):
    """The last sequence number handed out per user (see service.inbox.create)."""

    __tablename__ = "notification_counters"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Preference(db.Model):
    """A user's changes to the default channels per type, and their quiet hours."""

    __tablename__ = "preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    types: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    quiet_hours: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Device(db.Model):
    """A push token; a token belongs to one user at a time (the last one to register it)."""

    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    device_token: Mapped[str] = mapped_column(String(4096), nullable=False, unique=True)
    device_type: Mapped[str] = mapped_column(String(16), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Delivery(db.Model):
    """A push or email still to send (or sent, or given up), written with its notification."""

    __tablename__ = "deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    notification_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("notifications.id", ondelete="SET NULL"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("devices.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="pending")
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # When a send was last scheduled to run (enqueued now, or a retry's countdown end): the sweep
    # only re-enqueues rows whose scheduled run is well past, so it does not race a live task.
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("ix_deliveries_pending_due", "due_at", postgresql_where=text("status = 'pending'")),
        # The sweep's pruning of sent and given-up deliveries past their retention reads this range.
        Index("ix_deliveries_finished", "created_at", postgresql_where=text("status <> 'pending'")),
    )


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass


# Every table that names a user: the owner's rows, and rows of other users whose jsonb names them
# (a notification about the user in someone else's inbox: "data": {"sender_id": ...}, and its push
# or email still to send, which erasing cancels). The Redis keys naming one: the time-zone cache.
# (Long-poll wake-ups are published on one shared channel and write no per-user key.)
USER_DATA = UserData(
    "notifications",
    [
        Holding("notifications", columns=("user_id",), documents=("data",)),
        Holding("notification_counters", columns=("user_id",)),
        Holding("preferences", columns=("user_id",)),
        Holding("devices", columns=("user_id",)),
        Holding("deliveries", columns=("user_id",), documents=("payload",)),
    ],
    key_patterns=("hm:notification:tz:{user}",),
)
