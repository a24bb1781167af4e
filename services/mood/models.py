"""Mood service tables, in the `moods` schema."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Float, Index, Integer, String, Text, Uuid, func
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
    ],
    key_patterns=("hm:mood:audience:*{user}*",),
)
