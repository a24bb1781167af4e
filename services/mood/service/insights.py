"""Insights: the findings that passed the statistics, in warm words, refreshed in the background.

A refresh (the Celery task `mood.refresh_insights`, debounced per user after new entries or hugs)
recomputes the correlations of the last year, keeps an insight while its finding still holds
(updating its evidence), expires it the moment the finding no longer holds, and adds the new ones;
reads only list what is stored. Wording says what went together, never what causes what, and
never names a condition.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select, text

from services.mood import errors
from services.mood.models import StreakMilestone, UserInsight, db
from services.mood.service.correlations import MIN_DAYS, compare
from services.mood.service.days import load_days
from services.mood.service.stats import FDR
from shared.pagination import paginate

# Findings rest on the last year of days.
PERIOD = "year"
# An insight whose finding still holds is renewed by every refresh; one left alone ages out.
LIFETIME = timedelta(days=30)
STREAK_LIFETIME = timedelta(days=7)
MAX_FINDINGS = 10
PENDING_KEY = "hm:mood:insights:{user}"
# The debounce key outlives the countdown by this much, so a lost task only delays the next one.
PENDING_GRACE_SECONDS = 300
STREAK_RELEVANCE = {3: 0.4, 7: 0.6, 30: 0.8, 100: 1.0}
_PARTS = {
    "night": "at night",
    "morning": "in the morning",
    "afternoon": "in the afternoon",
    "evening": "in the evening",
}
_REFRESH_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:key))")
_CAVEAT = "This shows what tends to go together, not what causes what."


def _evidence(finding: Mapping[str, Any]) -> str:
    size = finding["sample_size"]
    return (
        f"{finding['mean_with']:.2f} against {finding['mean_without']:.2f} on a scale from 0 to 1, "
        f"over {size['with']} and {size['without']} days"
    )


def wording(finding: Mapping[str, Any]) -> tuple[str, str, str]:
    """(type, title, description) of a finding."""
    kind, _, name = finding["factor"].partition(":")
    higher = finding["effect"] > 0
    direction = "higher" if higher else "lower"
    evidence = _evidence(finding)
    if kind == "tag":
        if higher:
            return (
                "improvement",
                f"Days with “{name}” tend to feel lighter",
                f"On days you tagged {name}, your mood was higher on average ({evidence}). {_CAVEAT}",
            )
        return (
            "trigger",
            f"Days with “{name}” have tended to feel heavier",
            f"On days you tagged {name}, your mood was lower on average ({evidence}). {_CAVEAT} "
            "Knowing it may help you plan something kind for yourself on those days.",
        )
    if kind == "weekday":
        day = name.capitalize()
        return (
            "mood_pattern",
            f"{day}s tend to be {'brighter' if higher else 'harder'} for you",
            f"Over the past year your mood on {day}s was {direction} on average than on other days ({evidence}).",
        )
    if kind == "part_of_day":
        when = _PARTS[name]
        return (
            "mood_pattern",
            f"Days you check in {when} tend to be {'brighter' if higher else 'harder'}",
            f"On days with a check-in {when}, your mood was {direction} on average than on other days "
            f"({evidence}). {_CAVEAT}",
        )
    if name == "received":
        if higher:
            return (
                "hug_effect",
                "A hug goes with a better day",
                f"On days you received a hug, your mood was higher on average ({evidence}). {_CAVEAT}",
            )
        return (
            "hug_effect",
            "Hugs have come on harder days",
            f"On days you received a hug, your mood was lower on average ({evidence}); friends often "
            "reach out when things are tough.",
        )
    if higher:
        return (
            "hug_effect",
            "Sending a hug goes with a brighter day",
            f"On days you sent a hug, your mood was higher on average ({evidence}). {_CAVEAT}",
        )
    return (
        "hug_effect",
        "You have reached out on harder days",
        f"On days you sent a hug, your mood was lower on average ({evidence}); reaching out on a hard "
        "day is a kind thing to do.",
    )


def relevance(finding: Mapping[str, Any]) -> float:
    """The standardised effect (capped at 1) times how sure it is (1 - q)."""
    return round(min(1.0, abs(finding["standardized_effect"])) * (1.0 - finding["q_value"]), 4)


def _key(finding: Mapping[str, Any]) -> str:
    return f"{finding['factor']}:{'+' if finding['effect'] > 0 else '-'}"


def _data(finding: Mapping[str, Any], min_days: int) -> dict[str, Any]:
    return {
        "period": PERIOD,
        "method": "welch_t",
        "fdr": FDR,
        "min_days": min_days,
        **{k: finding[k] for k in ("factor", "mean_with", "mean_without", "effect", "ci95", "p_value", "q_value")},
        "standardized_effect": finding["standardized_effect"],
        "sample_size": finding["sample_size"],
    }


def findings(*, user_id: uuid.UUID, timezone: str, min_days: int = MIN_DAYS) -> list[dict[str, Any]]:
    """The findings that pass the FDR, most relevant first, at most MAX_FINDINGS."""
    result = compare(load_days(user_id=user_id, timezone=timezone, period=PERIOD), min_days=min_days)
    passed = [f for f in result["factors"] if f["significant"]]
    passed.sort(key=lambda f: (-relevance(f), f["factor"]))
    return passed[:MAX_FINDINGS]


def refresh(*, user_id: uuid.UUID, timezone: str, min_days: int = MIN_DAYS) -> dict[str, int]:
    """Bring the user's insights in line with their data; {created, kept, expired}. Two refreshes
    of one user (a slow one overlapping the next) take turns on a transaction lock."""
    db.session.execute(_REFRESH_LOCK, {"key": f"mood.insights:{user_id}"})
    now = datetime.now(UTC)
    current = findings(user_id=user_id, timezone=timezone, min_days=min_days)
    wanted = {_key(f): f for f in current}
    active = {
        i.finding: i
        for i in db.session.execute(
            select(UserInsight).where(
                UserInsight.user_id == user_id, UserInsight.expires_at > now, UserInsight.type != "streak"
            )
        ).scalars()
    }
    counts = {"created": 0, "kept": 0, "expired": 0}
    for key, insight in active.items():
        if key not in wanted:
            insight.expires_at = now
            counts["expired"] += 1
    for rank, (key, finding) in enumerate(wanted.items()):
        kind, title, description = wording(finding)
        fields = {
            "title": title,
            "description": description,
            "relevance": relevance(finding),
            "data": _data(finding, min_days),
            "expires_at": now + LIFETIME,
        }
        if key in active:
            for name, value in fields.items():
                setattr(active[key], name, value)
            counts["kept"] += 1
        else:
            # Within one refresh the most relevant is the newest, so "newest first" ranks them.
            created = now - timedelta(microseconds=rank)
            db.session.add(UserInsight(user_id=user_id, type=kind, finding=key, created_at=created, **fields))
            counts["created"] += 1
    counts["created"] += _streak_insights(user_id, now)
    db.session.commit()
    return counts


def _streak_insights(user_id: uuid.UUID, now: datetime) -> int:
    """One `streak` insight at a time: for the longest milestone reached in the last week, unless
    it (or a longer one) is already shown. A backfill that moves a streak's first day publishes its
    milestones again; they are not told twice."""
    best = db.session.execute(
        select(StreakMilestone)
        .where(StreakMilestone.user_id == user_id, StreakMilestone.created_at > now - STREAK_LIFETIME)
        .order_by(StreakMilestone.days.desc(), StreakMilestone.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if best is None:
        return 0
    shown = list(
        db.session.execute(
            select(UserInsight).where(
                UserInsight.user_id == user_id, UserInsight.type == "streak", UserInsight.expires_at > now
            )
        ).scalars()
    )
    if any(insight.data.get("days", 0) >= best.days for insight in shown):
        return 0
    for insight in shown:  # superseded by the longer streak
        insight.expires_at = now
    db.session.add(
        UserInsight(
            user_id=user_id,
            type="streak",
            finding=f"streak:{best.streak_start.isoformat()}:{best.days}",
            title=f"{best.days} days in a row",
            description=(
                f"You have checked in {best.days} days in a row. Every check-in is a small act of care for yourself."
            ),
            relevance=STREAK_RELEVANCE.get(best.days, 0.5),
            data={"days": best.days, "streak_start": best.streak_start.isoformat()},
            created_at=now,
            expires_at=best.created_at + STREAK_LIFETIME,
        )
    )
    return 1


def list_insights(*, user_id: uuid.UUID, page: Mapping[str, Any]) -> tuple[list[UserInsight], str | None]:
    """The user's current insights, newest first."""
    query = select(UserInsight).where(UserInsight.user_id == user_id, UserInsight.expires_at > datetime.now(UTC))
    return paginate(db.session, query, time_column=UserInsight.created_at, id_column=UserInsight.id, page=page)


def mark_read(*, insight_id: uuid.UUID, user_id: uuid.UUID) -> UserInsight:
    """Mark the caller's insight read; someone else's is 404, as if it did not exist."""
    insight = db.session.get(UserInsight, insight_id)
    if insight is None or insight.user_id != user_id:
        raise errors.InsightNotFound("No such insight.")
    insight.is_read = True
    db.session.commit()
    return insight


def schedule_refresh(client: redis.Redis, user_id: uuid.UUID, *, delay: int, send: Callable[[str, int], Any]) -> bool:
    """Ask for one refresh `delay` seconds from now unless one is already pending (debounce);
    True if this call asked."""
    key = PENDING_KEY.format(user=user_id)
    if not client.set(key, "1", nx=True, ex=delay + PENDING_GRACE_SECONDS):
        return False
    try:
        send(str(user_id), delay)
    except Exception:
        client.delete(key)
        raise
    return True


def begin_refresh(client: redis.Redis, user_id: uuid.UUID) -> None:
    """The pending refresh starts: later data asks for another."""
    client.delete(PENDING_KEY.format(user=user_id))
