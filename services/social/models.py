"""Social service tables, in the `social` schema."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.datarights import Holding, UserData
from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("social")


class Activity(db.Model):
    __tablename__ = "activities"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    object_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)
    source_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    # Set in Python, not by now(): now() is the transaction's start, the same for every row it writes.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=lambda: datetime.now(UTC), server_default=func.now()
    )

    __table_args__ = (
        Index("ix_activities_user_created", "user_id", "created_at", "id"),
        Index("ix_activities_public_created", "created_at", "id", postgresql_where=text("visibility = 'public'")),
        Index("ix_activities_mood_object", "user_id", "object_id", postgresql_where=text("type = 'mood_shared'")),
    )


class Friendship(db.Model):
    """The local copy of the user service's friend graph: one row per direction."""

    __tablename__ = "friendships"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    friend_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_friendships_friend_id", "friend_id", "user_id"),)


class Block(db.Model):
    __tablename__ = "blocks"

    blocker_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    blocked_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_blocks_blocked_id", "blocked_id", "blocker_id"),)


class FriendRequest(db.Model):
    __tablename__ = "friend_requests"

    requester_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    addressee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_friend_requests_addressee_id", "addressee_id", "requester_id"),)


class ClosedToRequests(db.Model):
    """Users whose allow_friend_requests is false (a local copy fed by PrivacyChanged), never recommended."""

    __tablename__ = "closed_to_requests"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class RelationClock(db.Model):
    """When a relation between two users last changed, so a late, older event cannot undo a newer one."""

    __tablename__ = "relation_clocks"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    a: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    b: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Share(db.Model):
    """A public link to one piece of content; `token` is the unguessable part of its URL."""

    __tablename__ = "shares"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    content_type: Mapped[str] = mapped_column(String(16), nullable=False)
    content_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=lambda: datetime.now(UTC), server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # One live share per owner, content and platform: sharing again returns it.
        Index(
            "ux_shares_live",
            "owner_id",
            "content_type",
            "content_id",
            "platform",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass


# What the social service holds about a user: their activities and those of others that name them
# (a "new_friend" activity's object, a user id anywhere in an activity's data), both sides of every
# relation in the local graph and its clocks, whether they take friend requests, and their shares.
# It keeps no Redis keys of its own.
USER_DATA = UserData(
    "social",
    [
        Holding("activities", columns=("user_id", "object_id"), documents=("data",)),
        Holding("friendships", columns=("user_id", "friend_id")),
        Holding("blocks", columns=("blocker_id", "blocked_id")),
        Holding("friend_requests", columns=("requester_id", "addressee_id")),
        Holding("relation_clocks", columns=("a", "b")),
        Holding("shares", columns=("owner_id",)),
        Holding("closed_to_requests", columns=("user_id",)),
    ],
)
