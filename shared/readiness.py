"""Readiness that rides out a short outage of a shared dependency (PostgreSQL, Redis).

Every pod of a Deployment reaches the same PostgreSQL and Redis, so when one of them blips, every
pod's check fails at once. Failing readiness at once would empty the Service, and clients would
get connection errors instead of the documented 503 problem+json with Retry-After that a live pod
answers. So /readyz stays 200 while a dependency has been down for at most the grace period
(READINESS_GRACE_SECONDS), naming it in the body, and answers 503 only after that: a pod whose own
path to a dependency stays broken still leaves its Service. The clock is per process (each gunicorn
worker keeps its own), started by the first failed check and reset by the first good one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any


class Readiness:
    """When each dependency was first seen down, and whether that is still within the grace."""

    def __init__(self, grace_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._down_since: dict[str, float] = {}
        self._lock = threading.Lock()

    def assess(self, checks: Mapping[str, bool]) -> tuple[bool, dict[str, Any]]:
        """`checks`: dependency name -> reachable now. Returns (ready, body): body names each
        dependency `ok` or `down`, and for one that is down, for how long (seconds)."""
        now = self._clock()
        report: dict[str, str] = {}
        down_seconds: dict[str, float] = {}
        ready = True
        with self._lock:
            for name, ok in checks.items():
                if ok:
                    self._down_since.pop(name, None)
                    report[name] = "ok"
                    continue
                down_for = now - self._down_since.setdefault(name, now)
                report[name] = "down"
                down_seconds[name] = round(down_for, 1)
                if down_for >= self.grace_seconds:
                    ready = False
        status = "ready" if all(checks.values()) else ("degraded" if ready else "not_ready")
        body: dict[str, Any] = {"status": status, "checks": report}
        if down_seconds:
            body["down_seconds"] = down_seconds
            body["grace_seconds"] = self.grace_seconds
        return ready, body
