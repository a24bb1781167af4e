"""Long polling: immediate answers, validation, holding, wake-ups, and one subscriber per process."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from services.notification.models import db
from shared.pagination import encode_cursor
from shared.wake import wake_message

PATH = "/api/v1/notifications/poll"


def poll(person, **query):
    response = person.get(PATH, query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def test_without_a_cursor_answers_the_unread_at_once_with_the_current_cursor(caller):
    alice, bob = caller(), caller()
    empty = poll(alice)
    assert empty["items"] == [] and empty["cursor"] == encode_cursor(0)
    alice.hugged(3)
    bob.hugged(1)
    first = alice.notifications()[-1]
    alice.put(f"/api/v1/notifications/{first['id']}/read")
    body = poll(alice)
    assert len(body["items"]) == 2 and first["id"] not in {i["id"] for i in body["items"]}
    assert body["items"] == sorted(body["items"], key=lambda i: i["created_at"])
    assert body["cursor"] == encode_cursor(3)


def test_with_a_cursor_answers_everything_newer_oldest_first(caller):
    alice = caller()
    alice.hugged(2)
    cursor = poll(alice)["cursor"]
    alice.hugged(3)
    body = poll(alice, cursor=cursor)
    newest_first = alice.notifications()
    assert [i["id"] for i in body["items"]] == [i["id"] for i in reversed(newest_first[:3])]
    assert body["cursor"] == encode_cursor(5)


def test_a_timeout_answers_empty_items_and_the_same_cursor(caller):
    alice = caller()
    alice.hugged()
    cursor = poll(alice)["cursor"]
    started = time.monotonic()
    body = poll(alice, cursor=cursor, timeout=1)
    assert body == {"items": [], "cursor": cursor}
    assert 0.9 < time.monotonic() - started < 3


@pytest.mark.parametrize(
    "query",
    [
        {"timeout": 0},
        {"timeout": 61},
        {"timeout": "soon"},
        {"timeout": "1.5"},
        {"cursor": "not a cursor"},
        {"cursor": encode_cursor("x")},
        {"cursor": encode_cursor(-1)},
        {"cursor": encode_cursor(1, 2)},
        {"cursor": ""},
        {"since": 1},
    ],
)
def test_bad_query_parameters_are_422(caller, query):
    response = caller().get(PATH, query_string=query)
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_another_users_cursor_reveals_nothing(caller):
    alice, mallory = caller(), caller()
    alice.hugged(2)
    body = poll(mallory, cursor=encode_cursor(0), timeout=1)
    assert body["items"] == []


# --- against a live threaded server, with real commits ---


def test_a_held_poll_answers_soon_after_a_notification_is_created(live_user):
    alice = live_user()
    cursor = alice.poll()["cursor"]
    answered: dict = {}

    def wait() -> None:
        answered["body"] = alice.poll(cursor, timeout=10)
        answered["at"] = time.monotonic()

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)  # the poll is holding
    assert "body" not in answered
    alice.hugged()
    created = time.monotonic()
    thread.join(5)
    assert len(answered["body"]["items"]) == 1 and answered["body"]["cursor"] != cursor
    assert answered["at"] - created < 0.2


def test_nothing_is_missed_between_polls(live_user):
    alice = live_user()
    cursor = alice.poll()["cursor"]
    seen: list[str] = []
    sent: list[str] = []
    done = threading.Event()

    def produce() -> None:
        for _ in range(30):
            sent.append(alice.hugged())
            time.sleep(0.005)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    while not done.is_set() or len(seen) < 30:
        body = alice.poll(cursor, timeout=2)
        seen.extend(item["data"]["hug_id"] for item in body["items"])
        cursor = body["cursor"]
        if done.is_set() and not body["items"] and len(seen) >= 30:
            break
    producer.join()
    assert seen == sent  # each once, in order
    assert alice.poll(cursor, timeout=1)["items"] == []


def test_a_wrong_users_notifications_never_appear(live_user):
    alice, bob = live_user(), live_user()
    cursor = bob.poll()["cursor"]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(bob.poll, cursor, 2)
        time.sleep(0.3)
        alice.hugged()
        body = waiting.result()
    assert body == {"items": [], "cursor": cursor}
    assert len(alice.poll()["items"]) == 1


def test_twenty_waiting_polls_share_one_pubsub_connection_and_hold_no_db_connection(live_user, live_app, redis_url):
    users = [live_user() for _ in range(20)]
    cursors = [u.poll()["cursor"] for u in users]
    hub = live_app.extensions["notification_wake"]
    admin = redis.Redis.from_url(redis_url)
    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(u.poll, c, 10) for u, c in zip(users, cursors, strict=True)]
        with live_app.app_context():
            pool_ = db.engine.pool
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # A waiter registers before its first query; once all 20 are past it, none may keep a
            # database connection while holding.
            with hub.lock:
                waiting = sum(len(group) for group in hub.waiters.values())
            in_use = pool_.checkedout()
            if waiting == 20 and in_use == 0:
                break
            time.sleep(0.05)
        assert waiting == 20 and in_use == 0
        time.sleep(0.3)
        assert pool_.checkedout() == 0  # still holding, still no connection
        ours = [c for c in admin.client_list() if c.get("name") == hub.client_name]
        assert len(ours) == 1 and ours[0]["sub"] == "1"
        for user in users:
            user.hugged()
        bodies = [f.result(timeout=10) for f in futures]
    assert all(len(b["items"]) == 1 for b in bodies)
    admin.close()


def test_waiters_are_woken_to_re_query_when_the_subscriber_reconnects(live_user, live_app, redis_url):
    alice = live_user()
    cursor = alice.poll()["cursor"]
    hub = live_app.extensions["notification_wake"]
    admin = redis.Redis.from_url(redis_url)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(alice.poll, cursor, 20)
        time.sleep(0.3)
        # A notification whose wake-up is lost (published nowhere), then the subscriber's
        # connection dies: on reconnect every waiter re-queries and finds it.
        from services.notification import tasks

        with live_app.app_context():
            original = tasks.service.inbox.wake
            tasks.service.inbox.wake = lambda *_: None
            try:
                alice.hugged()
            finally:
                tasks.service.inbox.wake = original
        started = time.monotonic()
        (ours,) = [c for c in admin.client_list() if c.get("name") == hub.client_name]
        admin.client_kill_filter(_id=ours["id"])
        body = waiting.result(timeout=10)
    assert len(body["items"]) == 1 and time.monotonic() - started < 3
    hub.subscribed.wait(5)
    admin.close()


def test_a_users_sequence_numbers_commit_in_order(live_user, live_app):
    """A second allocation for the same user waits for the first to commit, so a poller's
    "seq > cursor" never sees a higher seq committed before a lower one."""
    from sqlalchemy import text

    alice = live_user()
    allocate = text(
        "INSERT INTO notification_counters (user_id, seq) VALUES (:u, 1) "
        "ON CONFLICT (user_id) DO UPDATE SET seq = notification_counters.seq + 1 RETURNING seq"
    )
    with live_app.app_context():
        engine = db.engine
    got: dict = {}
    with engine.connect() as first:
        assert first.execute(allocate, {"u": alice.id}).scalar_one() == 1

        def second() -> None:
            with engine.begin() as conn:
                got["seq"] = conn.execute(allocate, {"u": alice.id}).scalar_one()
                got["at"] = time.monotonic()

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert "seq" not in got  # blocked on the first transaction's row lock
        committed = time.monotonic()
        first.commit()
        thread.join(5)
    assert got["seq"] == 2 and got["at"] >= committed


# --- the gateway's check: the same answer, never held, and how long the gateway may hold ---

CHECK = "/internal/v1/notifications/poll"


def test_the_check_with_nothing_newer_answers_at_once_and_says_how_long_to_hold(caller):
    alice = caller()
    alice.hugged()
    cursor = poll(alice)["cursor"]
    started = time.monotonic()
    response = alice.get(CHECK, query_string={"cursor": cursor, "timeout": 7})
    assert time.monotonic() - started < 0.5
    assert response.status_code == 200 and response.json == {"items": [], "cursor": cursor}
    assert response.headers["X-Poll-Wait"] == "7"
    assert alice.get(CHECK, query_string={"cursor": cursor}).headers["X-Poll-Wait"] == "30"  # the default


def test_the_check_with_newer_items_or_without_a_cursor_says_answer_now(caller):
    alice, mallory = caller(), caller()
    cursor = poll(alice)["cursor"]
    alice.hugged(2)
    newer = alice.get(CHECK, query_string={"cursor": cursor, "timeout": 7})
    assert len(newer.json["items"]) == 2 and newer.headers["X-Poll-Wait"] == "0"
    assert newer.json["cursor"] == encode_cursor(2)
    unread = alice.get(CHECK)
    assert len(unread.json["items"]) == 2 and unread.headers["X-Poll-Wait"] == "0"
    # another user's check, from the same cursor, sees none of it
    theirs = mallory.get(CHECK, query_string={"cursor": cursor, "timeout": 7})
    assert theirs.json == {"items": [], "cursor": cursor} and theirs.headers["X-Poll-Wait"] == "7"


@pytest.mark.parametrize("query", [{"timeout": 0}, {"timeout": 61}, {"cursor": "not a cursor"}, {"since": 1}])
def test_the_check_refuses_what_the_poll_refuses(caller, query):
    response = caller().get(CHECK, query_string=query)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert "X-Poll-Wait" not in response.headers


def test_the_check_needs_the_users_own_token(client):
    response = client.get(CHECK, query_string={"cursor": encode_cursor(0)}, headers={"X-User-Id": "someone"})
    assert response.status_code == 401 and response.content_type == "application/problem+json"


# --- wake-ups that carry the news ---


def test_a_held_poll_answers_from_the_news_exactly_what_a_fresh_poll_would(live_user):
    alice = live_user()
    cursor = alice.poll()["cursor"]
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(alice.poll, cursor, 10)
        time.sleep(0.3)
        alice.hugged()
        woken = held.result(timeout=5)
    assert len(woken["items"]) == 1
    assert alice.poll(cursor, timeout=1) == woken  # the same items, the same cursor after them


def publish_news(live_app, redis_url, user_id: str, news: dict) -> None:
    hub = live_app.extensions["notification_wake"]
    admin = redis.Redis.from_url(redis_url)
    admin.publish(hub.channel, wake_message(user_id, news))
    admin.close()


def test_news_that_follows_the_cursor_is_the_answer_without_a_query(live_user, live_app, redis_url):
    alice = live_user()
    cursor = alice.poll()["cursor"]
    # Nothing in the database: an answer with this item can only come from the wake-up itself.
    item = {"id": "n-1", "type": "hug_received", "title": "t", "body": "b", "data": {}, "is_read": False}
    news = {"after": cursor, "cursor": encode_cursor(1), "items": [item]}
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(alice.poll, cursor, 10)
        time.sleep(0.3)
        publish_news(live_app, redis_url, alice.id, news)
        assert held.result(timeout=5) == {"items": [item], "cursor": encode_cursor(1)}


def test_news_that_does_not_follow_the_cursor_sends_the_poll_back_to_the_database(live_user, live_app, redis_url):
    alice = live_user()
    cursor = alice.poll()["cursor"]
    stale = {"after": encode_cursor(7), "cursor": encode_cursor(8), "items": [{"id": "not-in-the-database"}]}
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(alice.poll, cursor, 2)
        time.sleep(0.3)
        publish_news(live_app, redis_url, alice.id, stale)
        assert held.result(timeout=5) == {"items": [], "cursor": cursor}  # what the database holds
