"""A user's mood as one value per local day, the input of correlations, patterns and insights.

Two index-range reads (entries with a valence, hugs) bucketed by PostgreSQL into calendar days of
the owner's time zone, then grouped with numpy: no ORM objects, one row per entry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import text

from services.mood.models import db

PERIODS = {"month": timedelta(days=30), "quarter": timedelta(days=91), "year": timedelta(days=365), "all": None}
# Day numbers count from this Monday, so a day's weekday is its number modulo 7 (0 = Monday).
EPOCH = date(2000, 1, 3)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Parts of the day by local hour: night 0-5, morning 6-11, afternoon 12-17, evening 18-23.
PARTS = ("night", "morning", "afternoon", "evening")
HOURS_PER_PART = 6

_ENTRIES = text("""
SELECT (local::date - DATE '2000-01-03') AS day, date_part('hour', local)::int AS hour, valence, tags
FROM (SELECT recorded_at AT TIME ZONE :tz AS local, valence, tags
      FROM moods.mood_entries
      WHERE user_id = :user_id AND recorded_at >= :since AND valence IS NOT NULL) e
""")
_HUGS = text("""
SELECT DISTINCT ((occurred_at AT TIME ZONE :tz)::date - DATE '2000-01-03') AS day, direction
FROM moods.hug_days
WHERE user_id = :user_id AND occurred_at >= :since
""")


@dataclass
class Days:
    """Per local day with at least one valence: its number, mean valence, entries, which parts of
    the day had an entry (and their mean), the tags used and whether a hug was sent or received."""

    day: np.ndarray  # int day numbers since EPOCH, ascending
    valence: np.ndarray  # mean valence of the day
    entries: int
    parts: np.ndarray  # (days, 4) bool
    part_valence: np.ndarray  # (days, 4) mean valence in that part of the day, NaN if none
    tags: dict[str, np.ndarray]  # tag -> indices of its days
    hugs: dict[str, np.ndarray]  # "sent"/"received" -> bool per day

    @property
    def weekday(self) -> np.ndarray:
        return self.day % 7

    def date(self, index: int) -> str:
        return (EPOCH + timedelta(days=int(self.day[index]))).isoformat()


def since(period: str) -> datetime | str:
    span = PERIODS[period]
    return datetime.now(UTC) - span if span else "-infinity"


def load_days(*, user_id: uuid.UUID, timezone: str, period: str) -> Days:
    """The user's days in `period` (counted back from now), in calendar days of `timezone`."""
    bound = {"user_id": user_id, "tz": timezone, "since": since(period)}
    rows = db.session.execute(_ENTRIES, bound).all()
    hugs = db.session.execute(_HUGS, bound).all()
    if not rows:
        return Days(np.zeros(0, np.int64), np.zeros(0), 0, np.zeros((0, 4), bool), np.zeros((0, 4)), {}, {})
    day = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    hour = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    valence = np.fromiter((r[2] for r in rows), dtype=float, count=len(rows))
    days, index = np.unique(day, return_inverse=True)
    count = np.bincount(index)
    part = hour // HOURS_PER_PART
    part_sum = np.zeros((days.size, len(PARTS)))
    part_count = np.zeros((days.size, len(PARTS)))
    np.add.at(part_sum, (index, part), valence)
    np.add.at(part_count, (index, part), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        part_valence = np.where(part_count > 0, part_sum / part_count, np.nan)
    tagged: dict[str, set[int]] = {}
    for i, row in zip(index.tolist(), rows, strict=True):
        for tag in row[3] or ():
            tagged.setdefault(tag, set()).add(i)
    hug_flags = {"sent": np.zeros(days.size, bool), "received": np.zeros(days.size, bool)}
    for hug_day, direction in hugs:
        at = np.searchsorted(days, hug_day)
        if at < days.size and days[at] == hug_day:
            hug_flags[direction][at] = True
    return Days(
        day=days,
        valence=np.bincount(index, valence) / count,
        entries=len(rows),
        parts=part_count > 0,
        part_valence=part_valence,
        tags={tag: np.fromiter(sorted(ix), dtype=np.int64) for tag, ix in sorted(tagged.items())},
        hugs=hug_flags,
    )
