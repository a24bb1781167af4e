"""Per-user analytics in one SQL statement over one index range; nothing loads history into Python."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.mood.models import db
from shared.db import PreparedStatement, outside_transaction

PERIODS = {"week": timedelta(days=7), "month": timedelta(days=30), "year": timedelta(days=365), "all": None}

# One index-only range scan into `e` (local day and hour computed once per entry), then one hashed
# GROUPING SETS pass over it for the day, hour, mood and overall figures; weekdays are summed from
# the days (sums and counts, so the averages stay per entry), tags are unnested in the select list.
_ANALYTICS_SQL = """
WITH e AS MATERIALIZED (
    SELECT mood, intensity, valence, tags, local::date AS day, date_part('hour', local)::int AS hour
    FROM (SELECT mood, intensity, valence, tags, recorded_at AT TIME ZONE :tz AS local
          FROM moods.mood_entries
          WHERE user_id = :user_id AND recorded_at >= :since
            AND (:scope = 'all' OR (:scope = 'public' AND is_public))) s
),
g AS MATERIALIZED (
    SELECT GROUPING(day, hour, mood) AS set, day, hour, mood,
           count(*) AS n, sum(intensity) AS si, sum(valence) AS sv, count(valence) AS nv
    FROM e GROUP BY GROUPING SETS ((day), (hour), (mood), ())
),
per_day AS (
    SELECT day AS date, n AS count, si / n AS average_intensity, sv / nullif(nv, 0) AS average_valence
    FROM g WHERE set = 3
),
moods AS (SELECT mood, n FROM g WHERE set = 6),
tags AS (
    SELECT tag, count(*) AS count, avg(valence) AS average_valence
    FROM (SELECT unnest(tags) AS tag, valence FROM e) u
    GROUP BY tag ORDER BY count DESC, tag LIMIT 10
),
trend AS (
    SELECT regr_slope(average_valence, date - DATE '2000-01-01') AS slope FROM per_day
    WHERE average_valence IS NOT NULL
)
SELECT json_build_object(
    'period', :period,
    'timezone', :tz,
    'count', (SELECT n FROM g WHERE set = 7),
    'average_intensity', (SELECT si / nullif(n, 0) FROM g WHERE set = 7),
    'average_valence', (SELECT sv / nullif(nv, 0) FROM g WHERE set = 7),
    'distribution', (SELECT coalesce(json_object_agg(mood, n ORDER BY n DESC, mood), '{}') FROM moods),
    'dominant_mood', (SELECT mood FROM moods ORDER BY n DESC, mood LIMIT 1),
    'per_day', (SELECT coalesce(json_agg(d ORDER BY d.date), '[]') FROM per_day d),
    'by_weekday', (SELECT coalesce(json_agg(w ORDER BY w.weekday), '[]')
        FROM (SELECT extract(isodow FROM day)::int AS weekday, sum(n)::int AS count,
                     sum(sv) / nullif(sum(nv), 0) AS average_valence
              FROM g WHERE set = 3 GROUP BY 1) w),
    'by_hour', (SELECT coalesce(json_agg(h ORDER BY h.hour), '[]')
        FROM (SELECT hour, n AS count, sv / nullif(nv, 0) AS average_valence FROM g WHERE set = 5) h),
    'top_tags', (SELECT coalesce(json_agg(t ORDER BY t.count DESC, t.tag), '[]') FROM tags t),
    'valence_trend', (SELECT json_build_object(
        'slope_per_day', slope,
        'direction', CASE WHEN slope IS NULL OR abs(slope) < :flat THEN 'flat'
                          WHEN slope > 0 THEN 'improving' ELSE 'declining' END) FROM trend)
)::text AS document
"""
ANALYTICS = PreparedStatement(
    "mood_analytics",
    _ANALYTICS_SQL,
    (
        ("user_id", "uuid"),
        ("tz", "text"),
        ("since", "timestamptz"),
        ("scope", "text"),
        ("period", "text"),
        ("flat", "float8"),
    ),
)
# A daily valence trend smaller than this (per day, either way) is "flat".
FLAT_SLOPE = 0.002


def analytics(*, user_id: uuid.UUID, timezone: str, period: str, scope: str) -> str:
    """The analytics document, as JSON text built by PostgreSQL: counts, averages, distribution,
    series by day, weekday and hour (owner's time zone), top tags with their average valence, and
    the trend of daily valence (change per day, least squares). Nothing is parsed or re-encoded in
    Python: the biggest part, `per_day`, has up to 366 entries a year."""
    span = PERIODS[period]
    since: datetime | str = datetime.now(UTC) - span if span else "-infinity"  # "all": every entry there is
    bound = {"user_id": user_id, "tz": timezone, "since": since, "scope": scope, "period": period, "flat": FLAT_SLOPE}
    outside_transaction(db.session)  # one statement that only reads
    return ANALYTICS.execute(db.session, bound).scalar_one()
