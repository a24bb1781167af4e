"""The caller's section of their data export: what the mood service keeps about them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.mood import schemas
from services.mood.models import HugDay, MoodEntry, StreakMilestone, UserInsight, db
from services.mood.service.content import held_by
from services.mood.service.streaks import streak

_entries = schemas.Mood(many=True)
_milestones = schemas.StreakMilestone(many=True)
_hug_days = schemas.HugDay(many=True)
_insights = schemas.Insight(many=True)
_interactions = schemas.Interaction(many=True)
_bookmarks = schemas.Bookmark(many=True)


def export_account(user_id: str, *, timezone: str) -> dict[str, Any]:
    """Every entry of the user, oldest first, private ones and notes included; the streak
    milestones they reached; their hug days and insights (expired ones too); what they did with
    library content (interactions, bookmarks); and their streak now, in calendar days of
    `timezone` (theirs). Seven queries, whatever the history's length."""
    owner = uuid.UUID(user_id)
    entries = db.session.execute(
        select(MoodEntry).where(MoodEntry.user_id == owner).order_by(MoodEntry.recorded_at, MoodEntry.id)
    ).scalars()
    milestones = db.session.execute(
        select(StreakMilestone)
        .where(StreakMilestone.user_id == owner)
        .order_by(StreakMilestone.streak_start, StreakMilestone.days)
    ).scalars()
    hug_days = db.session.execute(
        select(HugDay).where(HugDay.user_id == owner).order_by(HugDay.occurred_at, HugDay.hug_id, HugDay.direction)
    ).scalars()
    insights = db.session.execute(
        select(UserInsight).where(UserInsight.user_id == owner).order_by(UserInsight.created_at, UserInsight.id)
    ).scalars()
    current = streak(user_id=owner, timezone=timezone, scope="all")
    last = current["last_entry_date"]
    library = held_by(owner)
    return {
        "entries": _entries.dump(entries),
        "streak_milestones": _milestones.dump(milestones),
        "hug_days": _hug_days.dump(hug_days),
        "insights": _insights.dump(insights),
        "streak": {
            "current_streak": current["current_streak"],
            "longest_streak": current["longest_streak"],
            "last_entry_date": last.isoformat() if last else None,
            "timezone": timezone,
        },
        "content_interactions": _interactions.dump(library["interactions"]),
        "content_bookmarks": _bookmarks.dump(library["bookmarks"]),
    }
