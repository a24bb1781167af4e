"""A user's mood as one value per local day, the input of correlations, patterns and insights.

Two index-range reads (entries with a valence, hugs) bucketed by PostgreSQL into calendar days of
the owner's time zone, then grouped with numpy: no ORM objects, no Python loop over entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

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

# One index-range read of the entries (local day and part of the day computed once per entry),
# answered as one row of arrays: per (day, part) the valence sum and count, and per tag its days;
# the hug days beside them. numpy takes it from there, with no Python loop over entries.
ENTRIES = text("""
WITH e AS MATERIALIZED (
    SELECT (local::date - DATE '2000-01-03') AS day, date_part('hour', local)::int / 6 AS part, valence, tags
    FROM (SELECT recorded_at AT TIME ZONE :tz AS local, valence, tags
          FROM moods.mood_entries
          WHERE user_id = :user_id AND recorded_at >= :since AND valence IS NOT NULL) s
),
cells AS (SELECT day, part, sum(valence) AS total, count(*) AS n FROM e GROUP BY day, part),
tagged AS (SELECT tag, array_agg(DISTINCT day) AS days FROM e, unnest(e.tags) AS tag GROUP BY tag)
SELECT (SELECT array_agg(day) FROM cells), (SELECT array_agg(part) FROM cells),
       (SELECT array_agg(total) FROM cells), (SELECT array_agg(n) FROM cells),
       (SELECT array_agg(tag ORDER BY tag) FROM tagged),
       (SELECT array_agg(array_to_string(days, ',') ORDER BY tag) FROM tagged)
""")
HUGS = text("""
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
    return group_days(db.session.execute(ENTRIES, bound).one(), db.session.execute(HUGS, bound).all())


def group_days(cells: Sequence[Any], hugs: Iterable[Sequence[Any]]) -> Days:
    """Days from the row of ENTRIES (arrays of day, part, valence sum, count per cell; tags and
    their days) and the rows of HUGS (day, direction)."""
    cell_day, cell_part, cell_total, cell_n, tag_names, tag_days = cells
    if not cell_day:
        return Days(np.zeros(0, np.int64), np.zeros(0), 0, np.zeros((0, 4), bool), np.zeros((0, 4)), {}, {})
    day = np.asarray(cell_day, dtype=np.int64)
    part = np.asarray(cell_part, dtype=np.int64)
    total = np.asarray(cell_total, dtype=float)
    n = np.asarray(cell_n, dtype=np.int64)
    days, index = np.unique(day, return_inverse=True)
    part_sum = np.zeros((days.size, len(PARTS)))
    part_count = np.zeros((days.size, len(PARTS)))
    part_sum[index, part] = total  # one cell per (day, part)
    part_count[index, part] = n
    with np.errstate(invalid="ignore", divide="ignore"):
        part_valence = np.where(part_count > 0, part_sum / part_count, np.nan)
    tags = {
        name: np.searchsorted(days, np.fromstring(listed, dtype=np.int64, sep=","))
        for name, listed in zip(tag_names or (), tag_days or (), strict=True)
    }
    hug_rows = list(hugs)
    hug_flags = {
        direction: np.isin(days, np.array([d for d, way in hug_rows if way == direction], dtype=np.int64))
        for direction in ("sent", "received")
    }
    return Days(
        day=days,
        valence=part_sum.sum(axis=1) / part_count.sum(axis=1),
        entries=int(n.sum()),
        parts=part_count > 0,
        part_valence=part_valence,
        tags=tags,
        hugs=hug_flags,
    )
