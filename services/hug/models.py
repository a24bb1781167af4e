"""Hug service tables, in the `hugs` schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, SmallInteger, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.datarights import Holding, UserData
from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("hug")


class GroupHug(db.Model):
    __tablename__ = "group_hugs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    creator_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        Index("ix_group_hugs_creator", "creator_id", "created_at"),
        # The expiry task scans only the active ones, oldest deadline first.
        Index("ix_group_hugs_active_expiry", "expires_at", postgresql_where=text("status = 'active'")),
    )


class GroupHugParticipant(db.Model):
    __tablename__ = "group_hug_participants"

    group_hug_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("group_hugs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_group_hug_participants_user", "user_id"),)


class HugRequest(db.Model):
    __tablename__ = "hug_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    requester_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    responder_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Not a foreign key: hugs.hug_request_id already points the other way.
    hug_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        Index("ix_hug_requests_requester", "requester_id", "created_at", "id"),
        Index("ix_hug_requests_recipient", "recipient_id", "created_at", "id"),
        Index(
            "ix_hug_requests_community_pending",
            "created_at",
            "id",
            postgresql_where=text("recipient_id IS NULL AND status = 'pending'"),
        ),
    )


class Hug(db.Model):
    __tablename__ = "hugs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sender_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    is_read: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hug_request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("hug_requests.id", ondelete="SET NULL"))
    group_hug_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("group_hugs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        # The flood check counts one pair's hugs in a time window.
        Index("ix_hugs_pair_created", "sender_id", "recipient_id", "created_at"),
        Index("ix_hugs_sender_created", "sender_id", "created_at", "id"),
        Index("ix_hugs_recipient_created", "recipient_id", "created_at", "id"),
        Index("ix_hugs_recipient_unread", "recipient_id", "created_at", "id", postgresql_where=text("NOT is_read")),
    )


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass


# Every table that names a user, on every side (a hug's sender and recipient, a request's requester,
# recipient and answerer, a group's creator and invitees; a group's invitees go with it), and the
# Redis keys that name one: the audience cache, keyed "<owner>:<viewer>".
USER_DATA = UserData(
    "hugs",
    [
        Holding("hugs", columns=("sender_id", "recipient_id")),
        Holding("hug_requests", columns=("requester_id", "recipient_id", "responder_id")),
        Holding("group_hugs", columns=("creator_id",)),
        Holding("group_hug_participants", columns=("user_id",)),
    ],
    key_patterns=("hm:hug:audience:*{user}*",),
)
