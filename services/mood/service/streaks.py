"""Streaks in calendar days of the owner's time zone, computed from the entries themselves.

Computing from the entries on every read keeps current and longest streaks right whatever was
backfilled, edited or deleted; the (user_id, recorded_at) index makes it an index-only scan.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from services.mood.models import OutboxEvent, StreakMilestone, db
from shared.events import publish

MILESTONES = (3, 7, 30, 100)

_STREAK_SQL = text("""
WITH days AS (
    SELECT DISTINCT (recorded_at AT TIME ZONE :tz)::date AS d
    FROM moods.mood_entries
    WHERE user_id = :user_id AND (:scope = 'all' OR (:scope = 'public' AND is_public))
),
runs AS (
    SELECT min(d) AS first_day, max(d) AS last_day, count(*) AS length
    FROM (SELECT d, d - (row_number() OVER (ORDER BY d))::int AS run FROM days) numbered
    GROUP BY run
),
today AS (SELECT (now() AT TIME ZONE :tz)::date AS d)
SELECT
    coalesce((SELECT max(length) FROM runs), 0) AS longest,
    (SELECT max(last_day) FROM runs) AS last_entry_date,
    (SELECT length FROM runs, today WHERE last_day >= today.d - 1 ORDER BY last_day DESC LIMIT 1) AS current,
    (SELECT first_day FROM runs, today WHERE last_day >= today.d - 1 ORDER BY last_day DESC LIMIT 1) AS current_start
""")


def streak(*, user_id: uuid.UUID, timezone: str, scope: str) -> dict[str, Any]:
    """{current_streak, longest_streak, last_entry_date, current_start}; a streak that reached
    yesterday still counts today until local midnight."""
    row = db.session.execute(_STREAK_SQL, {"user_id": user_id, "tz": timezone, "scope": scope}).one()
    return {
        "current_streak": row.current or 0,
        "longest_streak": row.longest,
        "last_entry_date": row.last_entry_date,
        "current_start": row.current_start,
    }


def publish_milestones(*, user_id: uuid.UUID, timezone: str) -> list[int]:
    """Publish StreakMilestone for each milestone the current streak has reached, once per streak.

    `public_entries` says whether the streak of public entries alone reached it too: only then may
    others hear of it (others see streaks of visible entries only).
    """
    current = streak(user_id=user_id, timezone=timezone, scope="all")
    start: date | None = current["current_start"]
    public_streak: int | None = None
    reached = []
    for days in MILESTONES:
        if start is None or current["current_streak"] < days:
            break
        inserted = db.session.execute(
            insert(StreakMilestone)
            .values(user_id=user_id, days=days, streak_start=start)
            .on_conflict_do_nothing()
            .returning(StreakMilestone.days)
        ).first()
        if inserted:
            if public_streak is None:
                public_streak = streak(user_id=user_id, timezone=timezone, scope="public")["current_streak"]
            publish(
                db.session,
                OutboxEvent,
                "StreakMilestone",
                {
                    "user_id": str(user_id),
                    "days": days,
                    "streak_start": start.isoformat(),
                    "public_entries": public_streak >= days,
                },
            )
            reached.append(days)
    db.session.commit()
    return reached
