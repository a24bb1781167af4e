"""shared.wake's message format and the rule for answering a poll from a wake-up's news."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest

from shared import wake
from shared.wake import Waiter, WakeHub, answer_from, split_message, wake_message

NEWS = {"after": "c7", "cursor": "c8", "items": [{"id": "n8", "title": "A hug"}]}


def test_a_wake_up_with_news_reads_back_as_sent_and_one_without_as_the_user_alone():
    user = uuid.uuid4()
    user_id, news = split_message(wake_message(user, NEWS).encode())
    assert (user_id, json.loads(news)) == (str(user), NEWS)
    assert split_message(wake_message(user).encode()) == (str(user), b"")
    assert wake_message(user, NEWS).startswith(f"{user} ")  # readable without parsing the news


def test_a_process_with_no_waiter_for_the_user_does_not_parse_the_news(monkeypatch):
    hub = WakeHub("redis://127.0.0.1:1/0", process="test")
    hub.start = lambda: None
    parsed = []
    monkeypatch.setattr(wake.json, "loads", lambda raw: parsed.append(raw) or NEWS)
    alice = str(uuid.uuid4())
    hub._deliver(wake_message(uuid.uuid4(), NEWS).encode())
    assert parsed == []
    with hub.waiting(alice) as waiter:
        hub._deliver(wake_message(alice, NEWS).encode())
        assert len(parsed) == 1 and waiter.news == NEWS


@pytest.mark.parametrize(
    ("cursor", "answered"),
    [("c7", True), ("c6", False), ("c8", False), (None, False)],
)
def test_only_news_that_follows_the_polls_cursor_directly_is_an_answer(cursor, answered):
    expected = {"items": NEWS["items"], "cursor": "c8"} if answered else None
    assert answer_from(NEWS, cursor) == expected
    assert answer_from(None, "c7") is None


def test_clearing_a_waiter_forgets_its_news():
    waiter = Waiter()
    waiter.news = NEWS
    waiter.set()
    waiter.clear()
    assert waiter.news is None and not waiter.is_set()


def test_the_hub_hands_news_to_its_users_waiters_only_and_survives_garbage():
    hub = WakeHub("redis://127.0.0.1:1/0", process="test")
    hub.start = lambda: None  # no subscriber: messages are handed in directly
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    with hub.waiting(alice) as a, hub.waiting(bob) as b:
        hub._deliver(wake_message(alice, NEWS).encode())
        assert a.is_set() and a.news == NEWS and not b.is_set()
        hub._deliver(b"\xff\xfe")  # not a user id: logged and dropped
        hub._deliver(f"{bob} {{not json".encode())  # news that cannot be read: woken to ask again
        assert b.is_set() and b.news is None
        b.clear()
        hub.wake_all()  # after a reconnect: everyone asks again, without news
        assert a.news is None and b.is_set() and b.news is None


def test_an_outage_is_reported_once_not_on_every_retry_and_not_after_stopping(caplog):
    hub = WakeHub("redis://127.0.0.1:1/0", process="test")  # nothing listens there
    with caplog.at_level(logging.INFO, logger="hugmood.wake"):
        hub.start()
        time.sleep(1.0)  # several reconnect attempts (0.1, 0.2, 0.4 s apart)
        hub.stop()
        time.sleep(1.0)
    lost = [r for r in caplog.records if "lost Redis" in r.getMessage()]
    assert len(lost) == 1
    assert not hub.subscribed.is_set()
