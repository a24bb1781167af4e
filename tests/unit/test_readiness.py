"""Readiness: a shared dependency may be down for the grace period before a pod leaves its Service."""

from __future__ import annotations

from shared.readiness import Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ready_within_the_grace_not_after_and_again_once_back():
    clock = Clock()
    readiness = Readiness(30, clock)
    assert readiness.assess({"redis": True, "database": True}) == (
        True,
        {"status": "ready", "checks": {"redis": "ok", "database": "ok"}},
    )
    ready, body = readiness.assess({"redis": False, "database": True})
    assert ready and body["status"] == "degraded" and body["checks"] == {"redis": "down", "database": "ok"}
    assert body["down_seconds"] == {"redis": 0.0} and body["grace_seconds"] == 30
    clock.now += 29.9
    assert readiness.assess({"redis": False, "database": True})[0]
    clock.now += 0.1
    ready, body = readiness.assess({"redis": False, "database": True})
    assert not ready and body["status"] == "not_ready" and body["down_seconds"] == {"redis": 30.0}
    # Back: ready at once, and the next outage gets a whole grace of its own.
    assert readiness.assess({"redis": True, "database": True})[0]
    clock.now += 100
    assert readiness.assess({"redis": False, "database": True})[0]


def test_each_dependency_has_its_own_clock():
    clock = Clock()
    readiness = Readiness(10, clock)
    readiness.assess({"redis": False, "database": True})
    clock.now += 8
    assert readiness.assess({"redis": False, "database": False})[0]
    clock.now += 3  # redis down 11 s, the database 3 s
    ready, body = readiness.assess({"redis": False, "database": False})
    assert not ready and body["down_seconds"] == {"redis": 11.0, "database": 3.0}
    ready, body = readiness.assess({"redis": True, "database": False})
    assert ready and body["status"] == "degraded"


def test_no_grace_fails_at_once():
    assert not Readiness(0, Clock()).assess({"redis": False})[0]
