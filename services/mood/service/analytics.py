"""Per-user analytics in one SQL statement over one index range; nothing loads history into Python."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from services.mood.models import db

PERIODS = {"week": timedelta(days=7), "month": timedelta(days=30), "year": timedelta(days=365), "all": None}

_ANALYTICS_SQL = text("""
WITH e AS MATERIALIZED (
    SELECT mood, intensity, valence, tags, recorded_at AT TIME ZONE :tz AS local
    FROM moods.mood_entries
    WHERE user_id = :user_id AND recorded_at >= :since AND (:scope = 'all' OR (:scope = 'public' AND is_public))
),
per_day AS (
    SELECT local::date AS day, count(*) AS n, avg(intensity) AS intensity, avg(valence) AS valence
    FROM e GROUP BY 1
),
moods AS (SELECT mood, count(*) AS n FROM e GROUP BY mood),
tags AS (
    SELECT tag, count(*) AS n, avg(valence) AS valence
    FROM e CROSS JOIN LATERAL unnest(e.tags) AS tag
    GROUP BY tag ORDER BY n DESC, tag LIMIT 10
)
SELECT json_build_object(
    'count', (SELECT count(*) FROM e),
    'average_intensity', (SELECT avg(intensity) FROM e),
    'average_valence', (SELECT avg(valence) FROM e),
    'distribution', (SELECT coalesce(json_object_agg(mood, n ORDER BY n DESC, mood), '{}') FROM moods),
    'dominant_mood', (SELECT mood FROM moods ORDER BY n DESC, mood LIMIT 1),
    'per_day', (SELECT coalesce(json_agg(json_build_object(
        'date', day, 'count', n, 'average_intensity', intensity, 'average_valence', valence) ORDER BY day), '[]')
        FROM per_day),
    'by_weekday', (SELECT coalesce(json_agg(json_build_object(
        'weekday', wd, 'count', n, 'average_valence', valence) ORDER BY wd), '[]')
        FROM (SELECT extract(isodow FROM local)::int AS wd, count(*) AS n, avg(valence) AS valence
              FROM e GROUP BY 1) w),
    'by_hour', (SELECT coalesce(json_agg(json_build_object(
        'hour', h, 'count', n, 'average_valence', valence) ORDER BY h), '[]')
        FROM (SELECT extract(hour FROM local)::int AS h, count(*) AS n, avg(valence) AS valence
              FROM e GROUP BY 1) hr),
    'top_tags', (SELECT coalesce(json_agg(json_build_object(
        'tag', tag, 'count', n, 'average_valence', valence) ORDER BY n DESC, tag), '[]') FROM tags),
    'valence_trend', (SELECT regr_slope(valence, day - DATE '2000-01-01') FROM per_day WHERE valence IS NOT NULL)
) AS result
""")


def analytics(*, user_id: uuid.UUID, timezone: str, period: str, scope: str) -> dict[str, Any]:
    """Counts, averages, distribution, series by day, weekday and hour (owner's time zone), top tags
    with their average valence, and the trend of daily valence (change per day, least squares)."""
    span = PERIODS[period]
    since = datetime.now(UTC) - span if span else datetime(1970, 1, 1, tzinfo=UTC)
    result = db.session.execute(
        _ANALYTICS_SQL, {"user_id": user_id, "tz": timezone, "since": since, "scope": scope}
    ).scalar_one()
    slope = result.pop("valence_trend")
    direction = "flat" if slope is None or abs(slope) < 0.002 else ("improving" if slope > 0 else "declining")
    return {
        "period": period,
        "timezone": timezone,
        **result,
        "valence_trend": {"slope_per_day": slope, "direction": direction},
    }
