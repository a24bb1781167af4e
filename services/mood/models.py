"""Mood service tables, in the `moods` schema."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.datarights import Holding, UserData
from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("mood")


class MoodEntry(db.Model):
    __tablename__ = "mood_entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    mood: Mapped[str] = mapped_column(String(50), nullable=False)
    intensity: Mapped[float] = mapped_column(Float, nullable=False)
    valence: Mapped[float | None] = mapped_column(Float)
    arousal: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, default=list)
    is_public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # An imported entry's fingerprint (service/importer.py): unique per user, so a re-import skips it.
    import_key: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        # Every per-user read (lists, analytics, streaks) is a range of this index; INCLUDE lets
        # analytics and streaks run as index-only scans.
        Index(
            "ix_mood_entries_user_recorded",
            "user_id",
            "recorded_at",
            "id",
            postgresql_include=["mood", "intensity", "valence", "is_public", "tags"],
        ),
    )


class StreakMilestone(db.Model):
    """A milestone published for one streak (identified by its first day): never twice."""

    __tablename__ = "streak_milestones"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    days: Mapped[int] = mapped_column(Integer, primary_key=True)
    streak_start: Mapped[date] = mapped_column(Date, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class HugDay(db.Model):
    """A hug the user sent or received, learnt from HugSent; bucketed into the user's local days
    when read, so a change of time zone moves it with the entries."""

    __tablename__ = "hug_days"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    hug_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)  # "sent" | "received"
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_hug_days_user_occurred", "user_id", "occurred_at", postgresql_include=["direction"]),)


class UserInsight(db.Model):
    """A finding shown to its owner; `finding` names what it rests on ("tag:walk:+"), so the next
    refresh keeps it while the evidence holds and expires it when the evidence changes."""

    __tablename__ = "user_insights"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    finding: Mapped[str] = mapped_column(String(120), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    relevance: Mapped[float] = mapped_column(Float, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    is_read: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_user_insights_user_created", "user_id", "created_at", "id"),)


class ContentCategory(db.Model):
    """A node of the content library's category tree."""

    __tablename__ = "content_categories"

    slug: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    parent: Mapped[str | None] = mapped_column(String(50), ForeignKey("content_categories.slug"))
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ContentItem(db.Model):
    """An article, exercise, audio or video of the library; the body is Markdown, kept as written."""

    __tablename__ = "content_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    summary: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    media_url: Mapped[str | None] = mapped_column(String(2048))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, default=list)
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, default=list)
    related_moods: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ContentInteraction(db.Model):
    """One thing a user did with an item: view, bookmark, unbookmark, complete or dismiss."""

    __tablename__ = "content_interactions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    content_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ContentBookmark(db.Model):
    """An item a user keeps (the current state; the interactions are the history)."""

    __tablename__ = "content_bookmarks"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    content_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass


# Every table that names a user, and the Redis keys that name one: the cached audience answers,
# `hm:mood:audience:<owner>:<viewer>`, with the user on either side, and the insight refresh's
# debounce key `hm:mood:insights:<user>`.
USER_DATA = UserData(
    "moods",
    [
        Holding("mood_entries", columns=("user_id",)),
        Holding("streak_milestones", columns=("user_id",)),
        Holding("hug_days", columns=("user_id",)),
        Holding("user_insights", columns=("user_id",)),
        Holding("content_interactions", columns=("user_id",)),
        Holding("content_bookmarks", columns=("user_id",)),
    ],
    key_patterns=("hm:mood:audience:*{user}*", "hm:mood:insights:{user}"),
)
