"""Ranking of recommended content: recent moods weighted by age, tags that helped the user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.mood.models import ContentItem
from services.mood.service.recommendations import HELPED_WEIGHT, RecentMood, rank

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def item(title: str, moods: list[str], tags: list[str], days_old: int = 10) -> ContentItem:
    return ContentItem(
        id=uuid.uuid4(),
        title=title,
        related_moods=moods,
        tags=tags,
        status="published",
        published_at=NOW - timedelta(days=days_old),
    )


def felt(label: str, days_ago: float) -> RecentMood:
    return RecentMood(label, NOW - timedelta(days=days_ago))


BREATHE = item("Breathe", ["anxious"], ["breathing"])
WALK = item("Walk", ["anxious", "low"], ["walk"])
THANKS = item("Thanks", ["good"], ["gratitude"])
RECENT = [felt("Anxious", 0), felt("anxious", 1), felt("low", 14)]


def titles(found) -> list[str]:
    return [r.item.title for r in found]


def test_items_for_recent_moods_only_and_recent_entries_weigh_more():
    found = rank([BREATHE, WALK, THANKS], RECENT, frozenset(), now=NOW, limit=10)
    assert titles(found) == ["Walk", "Breathe"]  # Walk also suits the (older) low entry
    walk, breathe = found
    assert breathe.score == round(1 + 0.5 ** (1 / 7), 4)
    assert walk.score == round(breathe.score + 0.5**2, 4)
    assert "anxious 2 times recently" in breathe.reason and "tagged" not in breathe.reason


def test_a_tag_that_helped_ranks_an_item_up_and_says_so():
    found = rank([BREATHE, WALK, THANKS], RECENT, frozenset({"Breathing"}), now=NOW, limit=10)
    assert titles(found) == ["Breathe", "Walk"]
    assert found[0].score == round(1 + 0.5 ** (1 / 7) + HELPED_WEIGHT, 4)
    assert "On days you tagged “breathing”, your mood was higher on average." in found[0].reason


def test_a_helped_tag_alone_is_enough_to_recommend():
    found = rank([THANKS], [], frozenset({"gratitude"}), now=NOW, limit=10)
    assert titles(found) == ["Thanks"] and found[0].reason.startswith("On days you tagged")


def test_nothing_matches_nothing_is_recommended_and_the_limit_holds():
    assert rank([BREATHE, WALK, THANKS], [felt("serene", 0)], frozenset(), now=NOW, limit=10) == []
    assert titles(rank([BREATHE, WALK], RECENT, frozenset(), now=NOW, limit=1)) == ["Walk"]


def test_ties_go_to_the_newer_item():
    older, newer = item("Older", ["calm"], [], days_old=30), item("Newer", ["calm"], [], days_old=1)
    assert titles(rank([older, newer], [felt("calm", 0)], frozenset(), now=NOW, limit=10)) == ["Newer", "Older"]
