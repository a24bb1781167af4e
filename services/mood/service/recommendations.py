"""Content recommended to a user: items for the moods they recorded lately, ranked up when their
own correlations say a related activity (a tag) went with better days."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services.mood.models import ContentInteraction, ContentItem, MoodEntry, UserInsight, db
from services.mood.service.content import published

# Recent means this many days, at most this many entries.
RECENT_DAYS = 30
RECENT_ENTRIES = 60
# An entry's weight halves every week: what you felt yesterday counts more than a month ago.
HALF_LIFE_DAYS = 7.0
# Each tag that helped the user adds this to an item's score (one recent matching entry adds ≤ 1).
HELPED_WEIGHT = 1.5
# Completing or dismissing an item takes it out of the user's recommendations for good.
FINISHED = ("complete", "dismiss")


@dataclass(frozen=True)
class RecentMood:
    label: str
    recorded_at: datetime


@dataclass(frozen=True)
class Recommended:
    item: ContentItem
    score: float
    reason: str


def _reason(moods: Counter[str], helped: list[str]) -> str:
    parts = []
    if moods:
        label, times = moods.most_common(1)[0]
        when = "once recently" if times == 1 else f"{times} times recently"
        parts.append(f"You recorded feeling {label} {when}, and this is meant for moments like that.")
    if helped:
        tags = " or ".join(f"“{tag}”" for tag in helped)
        parts.append(f"On days you tagged {tags}, your mood was higher on average.")
    return " ".join(parts)


def rank(
    items: Iterable[ContentItem],
    recent: Sequence[RecentMood],
    helped_tags: frozenset[str],
    *,
    now: datetime,
    limit: int,
) -> list[Recommended]:
    """Score each item by the recent entries whose mood it suits (weighted by age) plus
    HELPED_WEIGHT per tag of it that helped the user; items that match neither are left out.
    Ties go to the newer item, then the id, so the order is stable."""
    helped = {tag.strip().lower() for tag in helped_tags}
    weights = [
        (mood.label.strip().lower(), 0.5 ** ((now - mood.recorded_at).total_seconds() / 86400 / HALF_LIFE_DAYS))
        for mood in recent
    ]
    scored = []
    for candidate in items:
        suits = set(candidate.related_moods)
        matched = Counter(label for label, _ in weights if label in suits)
        mood_score = sum(weight for label, weight in weights if label in suits)
        tags = [tag for tag in candidate.tags if tag.lower() in helped]
        if not matched and not tags:
            continue
        score = mood_score + HELPED_WEIGHT * len(tags)
        scored.append(Recommended(candidate, round(score, 4), _reason(matched, tags)))
    epoch = datetime.min.replace(tzinfo=UTC)
    scored.sort(key=lambda r: (-r.score, -(r.item.published_at or epoch).timestamp(), str(r.item.id)))
    return scored[:limit]


def tags_that_helped(user_id: uuid.UUID) -> frozenset[str]:
    """The tags whose days went with a higher mood for this user, by their own correlations: the
    tag findings of their current insights with a positive effect (each passed the FDR when the
    insight task last ran; nothing is computed on this read)."""
    findings = db.session.execute(
        select(UserInsight.finding).where(
            UserInsight.user_id == user_id,
            UserInsight.expires_at > datetime.now(UTC),
            UserInsight.finding.like(r"tag:%:+"),
        )
    ).scalars()
    return frozenset(finding.removeprefix("tag:").removesuffix(":+") for finding in findings)


def recommend(*, user_id: uuid.UUID, helped_tags: frozenset[str], limit: int) -> list[Recommended]:
    """Published items for the user's recent moods and helpful tags, never one they completed or
    dismissed, best first, each with its reason."""
    now = datetime.now(UTC)
    recent = [
        RecentMood(label, recorded_at)
        for label, recorded_at in db.session.execute(
            select(MoodEntry.mood, MoodEntry.recorded_at)
            .where(MoodEntry.user_id == user_id, MoodEntry.recorded_at >= now - timedelta(days=RECENT_DAYS))
            .order_by(MoodEntry.recorded_at.desc())
            .limit(RECENT_ENTRIES)
        )
    ]
    finished = select(ContentInteraction.content_id).where(
        ContentInteraction.user_id == user_id, ContentInteraction.type.in_(FINISHED)
    )
    labels = sorted({mood.label.strip().lower() for mood in recent})
    helped = sorted({tag.strip().lower() for tag in helped_tags})
    if not labels and not helped:
        return []
    query = published().where(
        ContentItem.id.not_in(finished),
        ContentItem.related_moods.overlap(labels) | ContentItem.tags.overlap(helped),
    )
    return rank(db.session.execute(query).scalars(), recent, helped_tags, now=now, limit=limit)
