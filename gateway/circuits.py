"""Every gateway worker's circuits, seen from any of them, and circuits closed by a health check.

Each worker keeps its own breakers (shared.http.Breaker): a call never waits on Redis to learn
whether it may go ahead. What the workers share is their view: every second each one writes its
breakers' states to Redis under a key of its own that expires after a few seconds, so the status
and the registry, whichever worker answers them, read every live worker's view. With Redis
unreachable they show the answering worker's own view and say so.

An open circuit is also closed early: every second each worker probes the instances of its
not-closed circuits at /readyz, and a ready instance closes the circuit at once, instead of
clients getting 503 until the reset timer runs out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import pybreaker
import redis

from gateway.proxy import Upstream

log = logging.getLogger("hugmood.gateway.circuits")

KEY_PREFIX = "hm:gw:circuits:"
SEVERITY = {"closed": 0, "half-open": 1, "open": 2}


def worst(states: list[str]) -> str:
    """The least healthy of several views of one circuit."""
    return max(states, key=lambda s: SEVERITY.get(s, 2), default="closed")


class _Changed(pybreaker.CircuitBreakerListener):
    """Wakes the publisher when a circuit changes state (called under the breaker's lock: it
    only sets an event; the publisher writes to Redis outside any request)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        self.event.set()


class CircuitBoard:
    """Publishes this worker's circuit states, reads every worker's, and heals open circuits.

    The view is written every `interval` seconds and at once after any circuit changes state."""

    def __init__(
        self,
        client: redis.Redis,
        upstreams: dict[str, Upstream],
        ready: Callable[[str], bool],
        *,
        interval: float = 1.0,
        ttl: int = 5,
    ):
        self.redis = client
        self.upstreams = upstreams
        self.ready = ready
        self.interval = interval
        self.ttl = ttl
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._started = False
        self._stopping = False
        self._changed = threading.Event()
        self._lock = threading.Lock()
        for upstream in upstreams.values():
            upstream.breaker.add_listener(_Changed(self._changed))

    def own_view(self) -> dict[str, dict[str, Any]]:
        return {name: upstream.breaker.snapshot() for name, upstream in self.upstreams.items()}

    def start(self) -> None:
        """Start the publishing and healing thread once (a greenlet in a gevent worker)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name="gateway-circuits", daemon=True).start()

    def stop(self) -> None:
        """Stop publishing, and withdraw this worker's view."""
        self._stopping = True
        self._changed.set()
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(KEY_PREFIX + self.worker)

    def _run(self) -> None:
        while not self._stopping:
            self._changed.clear()
            try:
                self.heal()
                self.publish()
            except Exception:  # the loop must outlive any one turn's surprise
                log.exception("circuit publishing failed")
            self._changed.wait(self.interval)

    def heal(self) -> list[str]:
        """Close every not-closed circuit whose service has a ready instance; the names closed."""
        closed = []
        for name, upstream in self.upstreams.items():
            if upstream.breaker.current_state == "closed":
                continue
            if any(self.ready(instance.url) for instance in upstream.instances):
                self.instance_ready(name)
                closed.append(name)
        return closed

    def instance_ready(self, name: str) -> None:
        """A health check found one of `name`'s instances ready: its circuit closes here."""
        if self.upstreams[name].breaker.close_early():
            log.info("circuit to %s closed early: an instance is ready", name)

    def publish(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.set(KEY_PREFIX + self.worker, json.dumps(self.own_view()), ex=self.ttl)

    def views(self) -> tuple[dict[str, dict[str, dict[str, Any]]], bool]:
        """worker → service → {state, failures}, for every live worker, and whether the other
        workers could be read (False: Redis is down and only this worker's view is given)."""
        own = self.own_view()
        try:
            keys = sorted(self.redis.scan_iter(match=KEY_PREFIX + "*", count=100))
            values = self.redis.mget(keys) if keys else []
        except redis.RedisError:
            return {self.worker: own}, False
        result: dict[str, dict[str, dict[str, Any]]] = {}
        for key, value in zip(keys, values, strict=True):
            if value is None:
                continue  # expired between the scan and the read
            worker = (key.decode() if isinstance(key, bytes) else key).removeprefix(KEY_PREFIX)
            with contextlib.suppress(ValueError):
                result[worker] = json.loads(value)
        result[self.worker] = own  # this worker's own view is always the freshest
        return result, True
