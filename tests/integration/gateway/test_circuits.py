"""Circuits across gateway workers: every worker's view in the registry, open circuits in the
status, and a ready instance closing a circuit before its reset timer runs out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from werkzeug.serving import make_server
from werkzeug.test import Client

from gateway import create_app
from gateway.circuits import KEY_PREFIX
from shared.config import SERVICES
from tests.integration.gateway.live_gateway import gunicorn_gateway


@dataclass
class Toggled:
    """A stand-in service: when `failing`, its routes answer 502 and its /readyz 503."""

    url: str = ""
    failing: bool = True


@pytest.fixture
def toggled() -> Iterator[Toggled]:
    service = Toggled()
    app = Flask("toggled")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        if service.failing:
            return Response(b"{}", 503 if request.path == "/readyz" else 502, content_type="application/json")
        return Response(b'{"items": []}', 200, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    service.url = f"http://127.0.0.1:{server.server_port}"
    yield service
    server.shutdown()


def fresh_get(url: str, token: str | None = None) -> requests.Response:
    """A GET on a connection of its own, so the kernel hands it to any of the gateway's workers."""
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"} if token else {"Connection": "close"}
    return requests.get(url, headers=headers, timeout=10)


def test_every_worker_sees_open_circuits_and_a_ready_service_closes_them_early(
    toggled, auth_server, redis_url, redis_client, token_for, tmp_path
):
    redis_client.delete(*redis_client.keys(KEY_PREFIX + "*") or ["none"])
    env = {
        "AUTH_URL": auth_server,
        "MOOD_URL": toggled.url,
        "REDIS_URL": redis_url,
        "GATEWAY_BREAKER_FAIL_MAX": "2",
        "GATEWAY_BREAKER_RESET_SECONDS": "300",  # far beyond the test: only a health check closes it
    }
    user, admin = token_for(), token_for(roles=["user", "admin"])
    with gunicorn_gateway(env, tmp_path, workers=2) as gateway:

        def mood_views() -> list[dict[str, Any]]:
            registry = fresh_get(gateway + "/api/v1/service-registry", admin).json()
            mood = next(s for s in registry["services"] if s["name"] == "mood")
            return mood["circuit_breaker"]["workers"]

        # Fail mood calls on fresh connections until both workers have opened their circuit.
        deadline = time.monotonic() + 60
        while not (len(views := mood_views()) == 2 and all(v["state"] == "open" for v in views)):
            assert time.monotonic() < deadline, views
            fresh_get(gateway + "/api/v1/moods", user)
        # Whichever worker answers, the registry and the status show both workers' open circuit
        # (each worker's view is written at least once a second).
        time.sleep(1.5)
        for _ in range(6):
            registry = fresh_get(gateway + "/api/v1/service-registry", admin).json()
            mood = next(s for s in registry["services"] if s["name"] == "mood")
            assert mood["circuit_breaker"]["state"] == "open"
            assert [w["state"] for w in mood["circuit_breaker"]["workers"]] == ["open", "open"], registry
            assert registry["gateway"]["all_workers_seen"] is True
            status = fresh_get(gateway + "/api/v1/status").json()
            assert status["status"] != "ok" and status["services"]["mood"]["circuit"] == "open"

        # The service recovers: its /readyz answers, and both workers' circuits close long before
        # the 300 s reset timer would have let a trial call through.
        toggled.failing = False
        recovered_at = time.monotonic()
        answers: list[int] = []
        while answers[-10:] != [200] * 10:
            assert time.monotonic() - recovered_at < 20, answers[-20:]
            answers.append(fresh_get(gateway + "/api/v1/moods", user).status_code)
        print(f"mood recovered: 10 answers in a row 200 after {time.monotonic() - recovered_at:.2f} s")
        views = mood_views()
        assert [v["state"] for v in views] == ["closed", "closed"]


def test_status_reports_a_circuit_another_worker_has_open_and_falls_back_without_redis(
    toggled, redis_url, redis_client, signing_key
):
    toggled.failing = False  # every service ready, as far as the probes go
    redis_client.delete(*redis_client.keys(KEY_PREFIX + "*") or ["none"])
    config = {f"{name.upper()}_URL": toggled.url for name in SERVICES}
    app = create_app({**config, "REDIS_URL": redis_url})
    other = {name: {"state": "closed", "failures": 0} for name in SERVICES}
    other["hug"] = {"state": "open", "failures": 5}
    redis_client.set(KEY_PREFIX + "elsewhere:1", json.dumps(other), ex=30)
    try:
        status = Client(app).get("/api/v1/status").json
        assert status["status"] == "degraded"
        assert status["services"]["hug"] == {"status": "up", "circuit": "open"}
        assert status["services"]["mood"] == {"status": "up"}  # a closed circuit goes unsaid
    finally:
        redis_client.delete(KEY_PREFIX + "elsewhere:1")
        app.circuits.stop()

    # Redis down: the answering worker's own view, still an answer.
    app = create_app({**config, "REDIS_URL": "redis://127.0.0.1:1/0"})
    app.upstreams["social"].breaker.open()
    app.fleet.ready = app.circuits.ready = lambda url: False  # social's instance is not ready
    try:
        status = Client(app).get("/api/v1/status").json
    finally:
        app.circuits.stop()
    assert status["services"]["social"] == {"status": "down", "circuit": "open"}
