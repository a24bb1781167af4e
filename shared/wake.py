"""Wake-ups for long polls: one Redis pub/sub subscriber per process, fanned out to the requests
waiting for a user.

A wake-up names the user and, when the notification service sends them, carries the news: the
notifications just committed, already in their API form, with the cursor just before them
(`after`) and the cursor after them. A waiting poll whose cursor is exactly `after` can answer
with them as they are, since nothing lies between its cursor and them; any other poll (or a
wake-up without news) asks the durable store again by its cursor. So a lost or overtaken wake-up
still loses nothing."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis

from shared.metrics import LONG_POLLS

log = logging.getLogger("hugmood.wake")

# The channel a new notification's owner id is published on (after commit), and that holders of
# long polls (the gateway; the notification service for direct polls) subscribe to.
NOTIFICATION_WAKE_CHANNEL = "hm:notifications:wake"
# The notification service's never-held check of a poll, and the header of its answer that says
# how long the caller may hold the poll for a wake-up before asking again (0: answer now).
POLL_CHECK_PATH = "/internal/v1/notifications/poll"
POLL_WAIT_HEADER = "X-Poll-Wait"


def wake_message(user_id: uuid.UUID | str, news: dict[str, Any] | None = None) -> str:
    """What is published on the wake channel: the user id, then (after a space) the news as JSON
    (`after`, `cursor` and `items`: see the module's docstring). The id comes first so that a
    process with no request waiting for that user drops the message without parsing it."""
    if news is None:
        return str(user_id)
    return f"{user_id} {json.dumps(news, separators=(',', ':'))}"


def split_message(data: bytes) -> tuple[str, bytes]:
    """The user id of a published wake-up, and its news still encoded (b"" without)."""
    user_id, _, news = data.partition(b" ")
    return user_id.decode("ascii"), news


def answer_from(news: dict[str, Any] | None, cursor: str | None) -> dict[str, Any] | None:
    """The poll's answer, `{"items", "cursor"}`, if the news follows the poll's cursor directly."""
    if news is None or cursor is None or news.get("after") != cursor:
        return None
    return {"items": news["items"], "cursor": news["cursor"]}


class Waiter(threading.Event):
    """A waiting request's event, with the news of the wake-up that set it (None: ask again)."""

    news: dict[str, Any] | None = None

    def clear(self) -> None:
        self.news = None
        super().clear()


class WakeHub:
    """One pub/sub connection per process, fanned out to per-user sets of waiting requests.

    The subscriber is a daemon thread started on first use (a greenlet under gunicorn's gevent
    worker, where threading is monkey-patched). When it reconnects after a Redis error it wakes
    every waiter, since wake-ups published meanwhile are gone; they re-query by cursor.
    """

    def __init__(self, redis_url: str, channel: str = NOTIFICATION_WAKE_CHANNEL, *, process: str):
        self.channel = channel
        self.process = process
        self.client_name = f"hugmood-{process}-wake-{os.getpid()}-{id(self):x}"
        self.redis = redis.Redis.from_url(
            redis_url, socket_timeout=5.0, socket_connect_timeout=2.0, health_check_interval=15
        )
        self.waiters: dict[str, set[Waiter]] = defaultdict(set)
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self._started = False
        self._stopping = False

    def start(self) -> None:
        """Start the subscriber thread once."""
        with self.lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name=f"{self.process}-wake", daemon=True).start()

    def stop(self) -> None:
        self._stopping = True

    def _run(self) -> None:
        backoff = 0.1
        failed = False
        while not self._stopping:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.execute_command("CLIENT", "SETNAME", self.client_name)
                pubsub.subscribe(self.channel)
                self.subscribed.set()
                if failed:
                    log.info("wake-up subscriber reconnected to Redis")
                    self.wake_all()
                failed = False
                backoff = 0.1
                while not self._stopping:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "message":
                        self._deliver(message["data"])
            except (redis.RedisError, OSError):
                if self._stopping:
                    return  # stopped (at exit, Redis may go first): nothing to report
                if not failed:  # once per outage, not on every retry
                    log.warning("wake-up subscriber lost Redis; reconnecting")
                self.subscribed.clear()
                failed = True
                self.wake_all()
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with suppress(redis.RedisError, OSError):
                    pubsub.close()

    def _deliver(self, data: bytes) -> None:
        try:
            user_id, encoded = split_message(data)
        except UnicodeDecodeError:
            log.warning("unreadable wake-up ignored")
            return
        events = self._waiting_for(user_id)
        if not events:
            return  # nobody here waits for this user: not even parsed
        news = None
        if encoded:
            try:
                news = json.loads(encoded)
            except ValueError:
                log.warning("unreadable wake-up news ignored: the waiters ask again")
        self._set(events, news)

    def _waiting_for(self, user_id: str) -> list[Waiter]:
        with self.lock:
            return list(self.waiters.get(user_id, ()))

    @staticmethod
    def _set(events: list[Waiter], news: dict[str, Any] | None) -> None:
        for event in events:
            event.news = news
            event.set()

    def wake_all(self) -> None:
        with self.lock:
            events = [e for group in self.waiters.values() for e in group]
        self._set(events, None)

    @contextmanager
    def waiting(self, user_id: uuid.UUID | str) -> Iterator[Waiter]:
        """Register a waiter for `user_id` for the duration of the block."""
        self.start()
        key = str(user_id)
        event = Waiter()
        with self.lock:
            self.waiters[key].add(event)
        held = LONG_POLLS.labels(self.process)
        held.inc()
        try:
            yield event
        finally:
            held.dec()
            with self.lock:
                group = self.waiters.get(key)
                if group is not None:
                    group.discard(event)
                    if not group:
                        del self.waiters[key]
