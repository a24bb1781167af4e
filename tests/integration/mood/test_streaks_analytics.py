"""Streaks and analytics in the owner's time zone, over visible entries only for others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.mood.models import OutboxEvent, db


def local(zone: str, days_ago: int, hour: int, minute: int = 0) -> str:
    """An instant `days_ago` local days back at hh:mm in `zone`, as RFC 3339 UTC (for today: a
    minute ago, which is always today and never in the future)."""
    tz = ZoneInfo(zone)
    if days_ago == 0:
        return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    day = datetime.now(tz).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC).isoformat()


def streak(person, who="me"):
    response = person.get(f"/api/v1/moods/streak/{who}")
    assert response.status_code == 200, response.json
    return response.json


def test_streak_counts_local_calendar_days(person):
    alice = person()
    zone = "Pacific/Auckland"
    alice.set_timezone(zone)
    for days_ago in (0, 1, 2):
        alice.record(recorded_at=local(zone, days_ago, 23, 30))
    body = streak(alice)
    assert body["current_streak"] == 3 and body["longest_streak"] == 3
    assert body["last_entry_date"] == datetime.now(ZoneInfo(zone)).date().isoformat()


def test_an_entry_at_2330_local_counts_for_that_local_day(person):
    alice = person()
    zone = "America/Los_Angeles"  # 23:30 there is the next day in UTC
    alice.set_timezone(zone)
    alice.record(recorded_at=local(zone, 2, 23, 30))
    alice.record(recorded_at=local(zone, 1, 23, 30))
    body = streak(alice)
    assert body["current_streak"] == 2
    assert body["last_entry_date"] == (datetime.now(ZoneInfo(zone)).date() - timedelta(days=1)).isoformat()


def test_a_streak_that_reached_yesterday_survives_today(person):
    alice = person()
    alice.record(recorded_at=local("UTC", 2, 12))
    alice.record(recorded_at=local("UTC", 1, 12))
    assert streak(alice)["current_streak"] == 2
    bob = person()
    bob.record(recorded_at=local("UTC", 3, 12))
    bob.record(recorded_at=local("UTC", 2, 12))
    assert streak(bob) | {"last_entry_date": None} == {
        "current_streak": 0,
        "longest_streak": 2,
        "last_entry_date": None,
        "timezone": "UTC",
    }


def test_backfill_and_delete_keep_streaks_right(person):
    alice = person()
    alice.record(recorded_at=local("UTC", 0, 9))
    gap_filler_day = local("UTC", 1, 9)
    alice.record(recorded_at=local("UTC", 2, 9))
    assert streak(alice)["current_streak"] == 1
    filler = alice.record(recorded_at=gap_filler_day)
    assert streak(alice)["current_streak"] == 3 and streak(alice)["longest_streak"] == 3
    alice.delete(f"/api/v1/moods/{filler['id']}")
    assert streak(alice)["current_streak"] == 1 and streak(alice)["longest_streak"] == 1
    moved = alice.record(recorded_at=local("UTC", 5, 9))
    alice.put(f"/api/v1/moods/{moved['id']}", json={"recorded_at": gap_filler_day})
    assert streak(alice)["current_streak"] == 3


def test_others_see_streaks_of_visible_entries_only(person):
    alice, friend, stranger = person(), person(), person()
    alice.befriend(friend)
    alice.record(recorded_at=local("UTC", 1, 9), is_public=True)
    alice.record(recorded_at=local("UTC", 0, 9), is_public=False)
    assert streak(alice)["current_streak"] == 2
    assert streak(friend, alice.id)["current_streak"] == 1
    assert streak(stranger, alice.id)["current_streak"] == 0 and streak(stranger, alice.id)["last_entry_date"] is None


def test_milestones_are_published_once_per_streak(person):
    from services.mood import tasks

    alice = person()
    for days_ago in range(6, -1, -1):
        alice.record(recorded_at=local("UTC", days_ago, 10))
    events = [
        e
        for e in db.session.execute(select(OutboxEvent)).scalars()
        if e.event_type == "MoodRecorded" and e.payload["data"]["user_id"] == alice.id
    ]
    for event in events + events:  # every entry's event, each delivered twice
        tasks.on_mood_written(event.payload)
    milestones = [
        e.payload["data"]["days"]
        for e in db.session.execute(select(OutboxEvent)).scalars()
        if e.event_type == "StreakMilestone" and e.payload["data"]["user_id"] == alice.id
    ]
    assert sorted(milestones) == [3, 7]


@pytest.mark.parametrize("public_days,expected", [((), False), ((2, 1), False), ((2, 1, 0), True)])
def test_a_milestone_says_whether_public_entries_alone_reached_it(person, public_days, expected):
    """Others see streaks of visible entries only: a milestone of private entries is the owner's."""
    from services.mood import tasks

    alice = person()
    for days_ago in (2, 1, 0):
        alice.record(recorded_at=local("UTC", days_ago, 10), is_public=days_ago in public_days)
    events = [
        e.payload
        for e in db.session.execute(select(OutboxEvent)).scalars()
        if e.event_type == "MoodRecorded" and e.payload["data"]["user_id"] == alice.id
    ]
    for event in events:
        tasks.on_mood_written(event)
    [reached] = [
        e.payload["data"]
        for e in db.session.execute(select(OutboxEvent)).scalars()
        if e.event_type == "StreakMilestone" and e.payload["data"]["user_id"] == alice.id
    ]
    assert reached["days"] == 3 and reached["public_entries"] is expected


def test_analytics_are_computed_over_the_period_in_the_owners_time_zone(person):
    alice = person()
    zone = "Asia/Tokyo"
    alice.set_timezone(zone)
    alice.record(mood="happy", intensity=0.8, valence=0.9, tags=["friends", "sun"], recorded_at=local(zone, 2, 23, 30))
    alice.record(mood="happy", intensity=0.6, valence=0.7, tags=["sun"], recorded_at=local(zone, 1, 8))
    alice.record(mood="anxious", intensity=0.4, valence=0.2, tags=["work"], recorded_at=local(zone, 1, 9))
    alice.record(mood="calm", intensity=0.5, valence=0.5, recorded_at=local(zone, 60, 9))
    body = alice.get(f"/api/v1/moods/analytics/{alice.id}?period=week").json
    assert body["count"] == 3 and body["timezone"] == zone
    assert body["average_intensity"] == pytest.approx(0.6) and body["average_valence"] == pytest.approx(0.6)
    assert body["distribution"] == {"happy": 2, "anxious": 1} and body["dominant_mood"] == "happy"
    two_days_ago = (datetime.now(ZoneInfo(zone)).date() - timedelta(days=2)).isoformat()
    assert [(d["date"], d["count"]) for d in body["per_day"]][0] == (two_days_ago, 1)
    assert {h["hour"]: h["count"] for h in body["by_hour"]} == {23: 1, 8: 1, 9: 1}
    today = datetime.now(ZoneInfo(zone)).date()
    weekdays = {w["weekday"]: (w["count"], w["average_valence"]) for w in body["by_weekday"]}
    assert weekdays == {
        (today - timedelta(days=2)).isoweekday(): (1, pytest.approx(0.9)),
        (today - timedelta(days=1)).isoweekday(): (2, pytest.approx(0.45)),
    }
    tags = {t["tag"]: t for t in body["top_tags"]}
    assert tags["sun"]["count"] == 2 and tags["sun"]["average_valence"] == pytest.approx(0.8)
    assert body["top_tags"][0]["tag"] == "sun"
    assert body["valence_trend"]["direction"] == "declining"
    assert alice.get("/api/v1/moods/analytics/me?period=all").json["count"] == 4


def test_analytics_of_another_user_cover_visible_entries_only(person):
    alice, friend, stranger = person(), person(), person()
    alice.befriend(friend)
    alice.record(mood="joy", is_public=True, valence=1.0)
    alice.record(mood="grief", is_public=False, valence=0.0)
    seen = friend.get(f"/api/v1/moods/analytics/{alice.id}").json
    assert seen["count"] == 1 and seen["distribution"] == {"joy": 1}
    hidden = stranger.get(f"/api/v1/moods/analytics/{alice.id}").json
    assert hidden["count"] == 0 and hidden["distribution"] == {} and hidden["dominant_mood"] is None
    assert hidden["average_intensity"] is None and hidden["average_valence"] is None
    assert hidden["per_day"] == hidden["by_weekday"] == hidden["by_hour"] == hidden["top_tags"] == []
    assert hidden["valence_trend"] == {"slope_per_day": None, "direction": "flat"}


@pytest.mark.parametrize("query", ["?period=decade", "?period=", "?period=week&extra=1"])
def test_analytics_bad_query_gets_422(person, query):
    assert person().get(f"/api/v1/moods/analytics/me{query}").status_code == 422


def test_streak_bad_query_and_unknown_user(person):
    alice = person()
    assert alice.get("/api/v1/moods/streak/me?days=3").status_code == 422
    assert alice.get("/api/v1/moods/streak/not-a-uuid").status_code == 404
    assert alice.get("/api/v1/moods/analytics/00000000-0000-0000-0000-000000000009").status_code == 404
