"""Long polling: one Redis subscriber per process wakes the requests waiting for a user."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis

from services.notification.models import Notification, db
from services.notification.service import inbox
from shared.metrics import LONG_POLLS
from shared.pagination import encode_cursor

log = logging.getLogger("hugmood.notification.poll")


class WakeHub:
    """One pub/sub connection per process, fanned out to per-user sets of waiting requests.

    The subscriber is a daemon thread started on first use (a greenlet under gunicorn's gevent
    worker, where threading is monkey-patched). When it reconnects after a Redis error it wakes
    every waiter, since wake-ups published meanwhile are gone; they re-query by cursor.
    """

    def __init__(self, redis_url: str, channel: str = inbox.WAKE_CHANNEL):
        self.channel = channel
        self.client_name = f"hugmood-notification-wake-{os.getpid()}-{id(self):x}"
        self.redis = redis.Redis.from_url(
            redis_url, socket_timeout=5.0, socket_connect_timeout=2.0, health_check_interval=15
        )
        self.waiters: dict[str, set[threading.Event]] = defaultdict(set)
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
        threading.Thread(target=self._run, name="notification-wake", daemon=True).start()

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
                    self.wake_all()
                backoff = 0.1
                while not self._stopping:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "message":
                        self.wake(message["data"].decode())
            except (redis.RedisError, OSError):
                log.warning("wake-up subscriber lost Redis; reconnecting")
                self.subscribed.clear()
                failed = True
                self.wake_all()
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with suppress(redis.RedisError, OSError):
                    pubsub.close()

    def wake(self, user_id: str) -> None:
        """Wake every request waiting for `user_id`."""
        with self.lock:
            events = list(self.waiters.get(user_id, ()))
        for event in events:
            event.set()

    def wake_all(self) -> None:
        with self.lock:
            events = [e for group in self.waiters.values() for e in group]
        for event in events:
            event.set()

    @contextmanager
    def waiting(self, user_id: uuid.UUID) -> Iterator[threading.Event]:
        """Register a waiter for `user_id` for the duration of the block."""
        self.start()
        key = str(user_id)
        event = threading.Event()
        with self.lock:
            self.waiters[key].add(event)
        held = LONG_POLLS.labels("notification")
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


def poll(
    *,
    user_id: uuid.UUID,
    cursor: str | None,
    timeout: float,
    hub: WakeHub,
    dump: Callable[[list[Notification]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Answer a long poll: newer items at once, or hold until a wake-up or the timeout.

    The database session is released before holding, so a held request never keeps a connection.
    """
    if cursor is None:
        items = inbox.unread(user_id)
        body = {"items": dump(items), "cursor": encode_cursor(inbox.current_seq(user_id))}
        db.session.remove()
        return body
    seq = inbox.seq_from_cursor(cursor)
    deadline = time.monotonic() + timeout
    with hub.waiting(user_id) as event:
        # Registered before the first query: a notification committed after it publishes a
        # wake-up that finds this waiter, so nothing slips between the query and the wait.
        while True:
            event.clear()
            items = inbox.newer_than(user_id, seq)
            body = {"items": dump(items), "cursor": encode_cursor(items[-1].seq) if items else cursor}
            db.session.remove()
            remaining = deadline - time.monotonic()
            if items or remaining <= 0:
                return body
            # No periodic re-read while holding: at 10,000 held polls a 5 s re-check was 2,000 queries
            # a second and emptied the pool. A wake-up lost while the subscriber reconnects is covered
            # by its wake-all on reconnect, and every poll reads the database once more at its timeout.
            event.wait(remaining)
