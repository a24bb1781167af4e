"""Mood service tables, in the `moods` schema."""

from __future__ import annotations

import uuid
from datetime import date, datetime

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
from sqlalchemy.dialects.postgresql import ARRAY
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
# `hm:mood:audience:<owner>:<viewer>`, with the user on either side.
USER_DATA = UserData(
    "moods",
    [
        Holding("mood_entries", columns=("user_id",)),
        Holding("streak_milestones", columns=("user_id",)),
        Holding("content_interactions", columns=("user_id",)),
        Holding("content_bookmarks", columns=("user_id",)),
    ],
    key_patterns=("hm:mood:audience:*{user}*",),
)
