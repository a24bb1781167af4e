"""Cycles, trend, volatility and low spells of a user's daily mood, in their local days."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from services.mood.service.correlations import MIN_DAYS
from services.mood.service.days import HOURS_PER_PART, PARTS, WEEKDAYS, Days, load_days
from services.mood.service.stats import mean_intervals, runs_below, slope_interval

LOW_SPELL_DAYS = 3
# Low spells listed, newest first (the count covers them all).
MAX_SPELLS = 20


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _summaries(groups: list[np.ndarray]) -> list[dict[str, Any]]:
    return [
        {
            "days": int(values.size),
            "mean": _rounded(mean),
            "ci95": [_rounded(v) for v in interval] if interval else None,
        }
        for values, (mean, interval) in zip(groups, mean_intervals(groups), strict=True)
    ]


def _trend(days: Days) -> dict[str, Any]:
    """Least-squares slope of weekly mean valence on the week number: weeks, not days, so one
    week's run of similar days does not narrow the interval as if the days were independent."""
    weeks = days.day // 7
    numbers, index = np.unique(weeks, return_inverse=True)
    weekly = np.bincount(index, days.valence) / np.bincount(index)
    fit = slope_interval(numbers, weekly)
    if fit is None:
        return {"weeks": int(numbers.size), "slope_per_week": None, "ci95": None, "direction": None}
    slope, (low, high) = fit
    direction = "improving" if low > 0 else "declining" if high < 0 else "steady"
    return {
        "weeks": int(numbers.size),
        "slope_per_week": _rounded(slope),
        "ci95": [_rounded(low), _rounded(high)],
        "direction": direction,
    }


def describe(days: Days, *, min_days: int = MIN_DAYS) -> dict[str, Any]:
    """The patterns document's figures for these days."""
    weekday = days.weekday
    by_weekday = _summaries([days.valence[weekday == i] for i in range(len(WEEKDAYS))])
    by_part = _summaries([days.part_valence[days.parts[:, i], i] for i in range(len(PARTS))])
    weekly = [{"weekday": name, **summary} for name, summary in zip(WEEKDAYS, by_weekday, strict=True)]
    daily = [
        {"part": name, "hours": [i * HOURS_PER_PART, (i + 1) * HOURS_PER_PART - 1], **summary}
        for i, (name, summary) in enumerate(zip(PARTS, by_part, strict=True))
    ]
    ranked = sorted((w for w in weekly if w["days"] >= min_days), key=lambda w: w["mean"])
    median = float(np.median(days.valence)) if days.day.size else None
    spells = runs_below(days.valence, days.day, median, LOW_SPELL_DAYS) if median is not None else []
    changes = np.abs(np.diff(days.valence))[np.diff(days.day) == 1]
    return {
        "days": int(days.day.size),
        "entries": days.entries,
        "median": _rounded(median),
        "weekly_cycle": weekly,
        "daily_cycle": daily,
        "best_weekday": ranked[-1]["weekday"] if len(ranked) >= 2 else None,
        "worst_weekday": ranked[0]["weekday"] if len(ranked) >= 2 else None,
        "trend": _trend(days),
        "volatility": {
            "sd": _rounded(days.valence.std(ddof=1)) if days.day.size >= 2 else None,
            "mean_daily_change": _rounded(changes.mean()) if changes.size else None,
        },
        "low_spells": {
            "count": len(spells),
            "items": [
                {
                    "start": days.date(first),
                    "end": days.date(last),
                    "days": last - first + 1,
                    "mean": _rounded(days.valence[first : last + 1].mean()),
                }
                for first, last in reversed(spells[-MAX_SPELLS:])
            ],
        },
    }


def patterns(*, user_id: uuid.UUID, timezone: str, period: str, min_days: int = MIN_DAYS) -> dict[str, Any]:
    days = load_days(user_id=user_id, timezone=timezone, period=period)
    return {"user_id": str(user_id), "period": period, "timezone": timezone, **describe(days, min_days=min_days)}
