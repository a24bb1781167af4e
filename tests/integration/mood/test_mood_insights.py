"""Correlations, patterns, hug days and insights of the mood service: who may read them, bad
input, the owner's local days, and insights that follow the evidence."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from services.mood import service, tasks
from services.mood.models import HugDay, MoodEntry, StreakMilestone, UserInsight, db

ANALYTICS = "/api/v1/analytics"


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "occurred_at": datetime.now(UTC).isoformat(), "data": data}


def noon(days_ago: int, zone: str = "UTC", hour: int = 12) -> datetime:
    day = datetime.now(ZoneInfo(zone)).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(hour), ZoneInfo(zone)).astimezone(UTC)


def diary(user_id: str, days: int, *, walk_every: int = 3, lift: float = 0.3, zone: str = "UTC") -> None:
    """One entry a day for `days` days (from yesterday back): every `walk_every`-th tagged "walk"
    with valence 0.4 + lift, the rest 0.4, give or take a little; "rare" on two days."""
    owner = uuid.UUID(user_id)
    for n in range(1, days + 1):
        walk = n % walk_every == 0
        tags = ["walk"] if walk else []
        if n in (4, 8):
            tags.append("rare")
        db.session.add(
            MoodEntry(
                user_id=owner,
                mood="calm",
                intensity=0.5,
                valence=0.4 + (lift if walk else 0.0) + 0.05 * ((n // 3) % 3 - 1),
                tags=tags,
                recorded_at=noon(n, zone),
            )
        )
    db.session.commit()


def get(person, path: str, status: int = 200):
    response = person.get(path)
    assert response.status_code == status, response.json
    return response.json


def factor(document: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [f for f in document["factors"] if f["factor"] == name]
    return found


# ---- correlations -----------------------------------------------------------------------------


def test_correlations_find_a_planted_tag_and_list_thin_factors(person):
    alice = person()
    diary(alice.id, 60)
    body = get(alice, f"{ANALYTICS}/correlations/me?period=quarter")
    assert body["period"] == "quarter" and body["days"] == 60 and body["measure"] == "valence"
    walk = factor(body, "tag:walk")
    assert walk["sample_size"] == {"with": 20, "without": 40}
    assert walk["effect"] == pytest.approx(walk["mean_with"] - walk["mean_without"], abs=1e-5)
    assert walk["effect"] == pytest.approx(0.3, abs=0.03)
    assert walk["ci95"][0] < walk["effect"] < walk["ci95"][1]
    assert walk["q_value"] <= 0.1 and walk["significant"] and walk["correlation"] > 0.8
    rare = [f for f in body["insufficient_data"] if f["factor"] == "tag:rare"]
    assert rare == [{"factor": "tag:rare", "sample_size": {"with": 2, "without": 58}}]
    assert "tag:rare" not in {f["factor"] for f in body["factors"]}
    # Every entry is at noon: no day has a night entry, so that factor has no days "with".
    assert {"factor": "part_of_day:night", "sample_size": {"with": 0, "without": 60}} in body["insufficient_data"]
    assert {f["factor"] for f in body["factors"]} >= {f"weekday:{d}" for d in ("monday", "friday")}


def test_correlations_period_narrows_the_days(person):
    alice = person()
    diary(alice.id, 60)
    month = sum(noon(n) >= datetime.now(UTC) - timedelta(days=30) for n in range(1, 61))  # 29 or 30 by the hour
    assert get(alice, f"{ANALYTICS}/correlations/{alice.id}?period=month")["days"] == month
    assert get(alice, f"{ANALYTICS}/correlations/me?period=all")["days"] == 60
    assert get(alice, f"{ANALYTICS}/correlations/me")["period"] == "year"


def test_correlations_of_a_user_with_no_entries_are_empty(person):
    body = get(person(), f"{ANALYTICS}/correlations/me")
    assert body["days"] == 0 and body["factors"] == [] and body["insufficient_data"] == []


@pytest.mark.parametrize("path", ["correlations", "patterns", "insights"])
def test_another_user_gets_403_even_a_friend_who_sees_public_moods(person, path):
    alice, bob = person(), person()
    alice.befriend(bob)
    alice.set_privacy(share_moods_with="public")
    response = bob.get(f"{ANALYTICS}/{path}/{alice.id}")
    assert response.status_code == 403 and response.content_type == "application/problem+json"
    assert response.json["code"] == "mood.analytics_forbidden"


@pytest.mark.parametrize("path", ["correlations", "patterns", "insights"])
@pytest.mark.parametrize("who", [str(uuid.uuid4()), "not-a-uuid", "%27%20OR%201=1"])
def test_an_unknown_or_malformed_user_is_404(person, path, who):
    response = person().get(f"{ANALYTICS}/{path}/{who}")
    assert response.status_code == 404 and response.content_type == "application/problem+json"


@pytest.mark.parametrize("path", ["correlations", "patterns"])
@pytest.mark.parametrize("query", ["period=week", "period=", "period=ALL", "period=year&x=1", "period=%00"])
def test_a_bad_period_is_a_problem(person, path, query):
    response = person().get(f"{ANALYTICS}/{path}/me?{query}")
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_analytics_need_a_token(client):
    assert client.get(f"{ANALYTICS}/correlations/me").status_code == 401


# ---- patterns ---------------------------------------------------------------------------------


def test_patterns_in_the_owners_time_zone(person):
    alice = person()
    zone = "Pacific/Auckland"
    alice.set_timezone(zone)
    # 23:30 in Auckland: the previous day in UTC, so weekdays only come out right in her zone.
    owner = uuid.UUID(alice.id)
    for n in range(1, 36):
        low = n in (5, 6, 7)
        day = datetime.now(ZoneInfo(zone)).date() - timedelta(days=n)
        at = datetime.combine(day, time(23, 30), ZoneInfo(zone)).astimezone(UTC)
        valence = 0.1 if low else 0.9 if day.isoweekday() == 6 else 0.5 + 0.01 * (n % 5)
        db.session.add(MoodEntry(user_id=owner, mood="calm", intensity=0.5, valence=valence, recorded_at=at))
    db.session.commit()
    body = get(alice, f"{ANALYTICS}/patterns/me?period=quarter")
    assert body["timezone"] == zone and body["days"] == 35 and body["entries"] == 35
    assert body["best_weekday"] == "saturday"
    saturday = body["weekly_cycle"][5]
    assert saturday["weekday"] == "saturday" and saturday["days"] == 5 and saturday["mean"] == pytest.approx(0.9)
    assert [p["part"] for p in body["daily_cycle"]] == ["night", "morning", "afternoon", "evening"]
    assert body["daily_cycle"][3]["days"] == 35 and body["daily_cycle"][0]["days"] == 0
    today = datetime.now(ZoneInfo(zone)).date()
    spells = body["low_spells"]
    assert spells["count"] >= 1
    ours = [spell for spell in spells["items"] if spell["start"] == (today - timedelta(days=7)).isoformat()]
    assert [(spell["end"], spell["days"]) for spell in ours] == [((today - timedelta(days=5)).isoformat(), 3)]
    assert body["trend"]["weeks"] >= 4 and len(body["trend"]["ci95"]) == 2
    assert body["volatility"]["sd"] > 0


def test_patterns_of_a_user_with_no_entries(person):
    body = get(person(), f"{ANALYTICS}/patterns/me")
    assert body["days"] == 0 and body["best_weekday"] is None and body["low_spells"] == {"count": 0, "items": []}
    assert body["trend"]["slope_per_week"] is None and body["volatility"]["sd"] is None


# ---- hug days ---------------------------------------------------------------------------------


def hug_sent(sender: str, recipient: str, at: datetime | None = None) -> dict[str, Any]:
    sent = event("HugSent", hug_id=str(uuid.uuid4()), sender_id=sender, recipient_id=recipient, type="warm")
    if at:
        sent["occurred_at"] = at.isoformat()
    return sent


def test_hug_sent_records_both_sides_once_and_asks_for_both_refreshes(person, deliver, refreshes):
    alice, bob = person(), person()
    sent = hug_sent(alice.id, bob.id)
    deliver(tasks.on_hug_sent, sent)
    deliver(tasks.on_hug_sent, sent)  # redelivered
    rows = db.session.execute(select(HugDay.user_id, HugDay.direction)).all()
    assert sorted((str(u), d) for u, d in rows) == sorted([(alice.id, "sent"), (bob.id, "received")])
    assert sorted(user for user, _delay in refreshes) == sorted([alice.id, bob.id])
    assert all(delay == 60 for _user, delay in refreshes)


def test_new_changed_and_deleted_entries_ask_for_a_refresh(person, deliver, refreshes, redis_client):
    alice = person()
    entry = alice.record(valence=0.5)
    recorded = event(
        "MoodRecorded", mood_id=entry["id"], user_id=alice.id, is_public=False, recorded_at=entry["recorded_at"]
    )
    deliver(tasks.on_mood_written, recorded)
    assert refreshes == [(alice.id, 60)]
    service.insights.begin_refresh(redis_client, uuid.UUID(alice.id))
    assert alice.delete(f"/api/v1/moods/{entry['id']}").status_code == 204
    deliver(tasks.on_mood_deleted, {**recorded, "id": str(uuid.uuid4()), "type": "MoodDeleted"})
    assert refreshes == [(alice.id, 60), (alice.id, 60)]


def test_refreshes_are_debounced_per_user(person, deliver, refreshes, redis_client):
    alice, bob = person(), person()
    for _ in range(3):
        deliver(tasks.on_hug_sent, hug_sent(alice.id, bob.id))
    assert sorted(user for user, _ in refreshes) == sorted([alice.id, bob.id])
    assert redis_client.ttl(f"hm:mood:insights:{alice.id}") > 60
    service.insights.begin_refresh(redis_client, uuid.UUID(alice.id))  # the task starts
    deliver(tasks.on_hug_sent, hug_sent(alice.id, bob.id))
    assert [user for user, _ in refreshes].count(alice.id) == 2
    assert [user for user, _ in refreshes].count(bob.id) == 1


def test_hug_days_feed_the_hug_factors_in_local_days(person, deliver):
    alice, bob = person(), person()
    zone = "America/Los_Angeles"
    bob.set_timezone(zone)
    diary(bob.id, 30, zone=zone, lift=0.0)
    # Bob receives a hug at 23:30 his time on every other day: the next day in UTC.
    for n in range(2, 31, 2):
        day = datetime.now(ZoneInfo(zone)).date() - timedelta(days=n)
        at = datetime.combine(day, time(23, 30), ZoneInfo(zone)).astimezone(UTC)
        deliver(tasks.on_hug_sent, hug_sent(alice.id, bob.id, at))
    body = get(bob, f"{ANALYTICS}/correlations/me?period=quarter")
    assert factor(body, "hug:received")["sample_size"] == {"with": 15, "without": 15}
    assert {"factor": "hug:sent", "sample_size": {"with": 0, "without": 30}} in body["insufficient_data"]


# ---- insights ---------------------------------------------------------------------------------


def refresh(person) -> dict[str, int]:
    return tasks.refresh_insights(person.id)


def test_the_task_stores_warm_insights_resting_on_significant_findings(person):
    alice = person()
    diary(alice.id, 60)
    assert get(alice, f"{ANALYTICS}/insights/me")["items"] == []  # nothing computed on the read path
    counts = refresh(alice)
    assert counts["created"] >= 1
    items = get(alice, f"{ANALYTICS}/insights/me")["items"]
    [walk] = [i for i in items if i["data"]["factor"] == "tag:walk"]
    assert walk["type"] == "improvement" and walk["is_read"] is False
    assert "walk" in walk["title"] and "higher on average" in walk["description"]
    assert "not what causes what" in walk["description"]
    assert walk["data"]["q_value"] <= walk["data"]["fdr"] and walk["data"]["sample_size"]["with"] == 20
    assert 0 < walk["relevance"] <= 1
    assert walk["expires_at"] > walk["created_at"]
    for item in items:
        assert item["data"]["q_value"] <= 0.1
    relevances = [i["relevance"] for i in items]
    assert relevances == sorted(relevances, reverse=True)  # newest first is most relevant first
    again = refresh(alice)
    assert again["created"] == 0 and again["kept"] == counts["created"]


def test_an_insight_expires_when_newer_data_changes_the_finding(person):
    alice = person()
    diary(alice.id, 60)
    refresh(alice)
    before = {i["data"]["factor"]: i["id"] for i in get(alice, f"{ANALYTICS}/insights/me")["items"]}
    assert "tag:walk" in before
    # Walks stop lifting her days: every walk day drops to the others' level.
    db.session.execute(
        MoodEntry.__table__.update()
        .where(MoodEntry.user_id == uuid.UUID(alice.id), MoodEntry.tags.contains(["walk"]))
        .values(valence=MoodEntry.valence - 0.3)
    )
    db.session.commit()
    counts = refresh(alice)
    assert counts["expired"] >= 1
    after = get(alice, f"{ANALYTICS}/insights/me")["items"]
    assert "tag:walk" not in {i["data"].get("factor") for i in after}
    stored = db.session.get(UserInsight, uuid.UUID(before["tag:walk"]))
    assert stored.expires_at <= datetime.now(UTC)


def milestone(person, days: int, start_days_ago: int) -> None:
    start = date.today() - timedelta(days=start_days_ago)
    db.session.add(StreakMilestone(user_id=uuid.UUID(person.id), days=days, streak_start=start))
    db.session.commit()


def test_one_streak_insight_for_the_longest_new_milestone(person):
    alice = person()
    # Backfilled days moved the streak's first day three times: 3 and 7 published for each start.
    for start in (8, 9, 10):
        milestone(alice, 3, start)
        milestone(alice, 7, start)
    assert refresh(alice)["created"] == 1
    assert refresh(alice)["created"] == 0
    [streak] = get(alice, f"{ANALYTICS}/insights/me")["items"]
    assert streak["type"] == "streak" and streak["title"] == "7 days in a row" and streak["data"]["days"] == 7
    milestone(alice, 30, 31)
    assert refresh(alice)["created"] == 1
    [longer] = get(alice, f"{ANALYTICS}/insights/me")["items"]  # the 7-day one is superseded
    assert longer["data"] == {"days": 30, "streak_start": (date.today() - timedelta(days=31)).isoformat()}


def test_insights_page_newest_first(person):
    alice = person()
    diary(alice.id, 90, walk_every=2, lift=0.4)
    milestone(alice, 30, 30)
    refresh(alice)
    everything = get(alice, f"{ANALYTICS}/insights/me?limit=100")["items"]
    assert len(everything) >= 2
    first = get(alice, f"{ANALYTICS}/insights/me?limit=1")
    second = get(alice, f"{ANALYTICS}/insights/me?limit=1&cursor={first['next_cursor']}")
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [i["id"] for i in everything[:2]]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=garbage", "sort=new"])
def test_bad_insight_paging_is_a_problem(person, query):
    response = person().get(f"{ANALYTICS}/insights/me?{query}")
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_marking_read_is_for_the_owner_only(person):
    alice, bob = person(), person()
    diary(alice.id, 60)
    refresh(alice)
    [first, *_] = get(alice, f"{ANALYTICS}/insights/me")["items"]
    stolen = bob.put(f"{ANALYTICS}/insights/{first['id']}/read")
    assert stolen.status_code == 404 and stolen.json["code"] == "mood.insight_not_found"
    assert get(alice, f"{ANALYTICS}/insights/me")["items"][0]["is_read"] is False
    read = alice.put(f"{ANALYTICS}/insights/{first['id']}/read")
    assert read.status_code == 200 and read.json["is_read"] is True and read.json["id"] == first["id"]
    assert get(alice, f"{ANALYTICS}/insights/me")["items"][0]["is_read"] is True


@pytest.mark.parametrize("insight", [str(uuid.uuid4()), "nope", "1"])
def test_marking_an_unknown_insight_is_404(person, insight):
    response = person().put(f"{ANALYTICS}/insights/{insight}/read")
    assert response.status_code == 404 and response.content_type == "application/problem+json"


def test_the_refresh_of_a_deleted_account_does_nothing(client):
    assert tasks.refresh_insights(str(uuid.uuid4())) is None
    assert db.session.execute(select(func.count()).select_from(UserInsight)).scalar_one() == 0
