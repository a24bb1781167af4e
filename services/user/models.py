"""User service tables, in the `users` schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, String, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.datarights import Holding, UserData
from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("user")

SHARE_MOODS = ("public", "friends", "none")
ALLOW_HUGS = ("anyone", "friends", "none")


class Profile(db.Model):
    __tablename__ = "profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(30), nullable=False)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False)
    bio: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    location: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    last_active: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("ix_profiles_username_lower", func.lower(username)),
        Index("ix_profiles_display_name_lower", func.lower(display_name)),
    )


class Privacy(db.Model):
    __tablename__ = "privacy_settings"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    share_moods_with: Mapped[str] = mapped_column(String(16), nullable=False, default="friends")
    allow_friend_requests: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    show_online_status: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    allow_hugs_from: Mapped[str] = mapped_column(String(16), nullable=False, default="friends")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Friendship(db.Model):
    """Accepted friendships, stored once per direction so "friends of X" is one index range."""

    __tablename__ = "friendships"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    friend_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (CheckConstraint("user_id <> friend_id", name="not_self"),)


class FriendRequest(db.Model):
    """A pending request; answering deletes it (accepting also creates the friendship)."""

    __tablename__ = "friend_requests"

    requester_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    addressee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("requester_id <> addressee_id", name="not_self"),
        Index("ix_friend_requests_addressee", "addressee_id", "created_at"),
    )


class Block(db.Model):
    __tablename__ = "blocks"

    blocker_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    blocked_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("blocker_id <> blocked_id", name="not_self"),
        Index("ix_blocks_blocked", "blocked_id"),
    )


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass


# Every table that names a user, on both sides of a relation (a friendship, request or block the
# user is the other party of is theirs too), and the Redis keys that name one: the throttle of
# last_active.
USER_DATA = UserData(
    "users",
    [
        Holding("profiles", columns=("user_id",)),
        Holding("privacy_settings", columns=("user_id",)),
        Holding("friendships", columns=("user_id", "friend_id")),
        Holding("friend_requests", columns=("requester_id", "addressee_id")),
        Holding("blocks", columns=("blocker_id", "blocked_id")),
    ],
    key_patterns=("hm:user:active:{user}",),
)
