"""What operators see: Prometheus metrics from every kind of process, and log lines that never
carry a password, a token or a mood note."""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.fleet import Client, wait_for

pytestmark = pytest.mark.e2e


def scrape(url: str) -> str:
    response = requests.get(url, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of `name` whose labels include `labels`."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_every_kind_of_process_serves_its_metrics(fleet, people):
    (alice, a), (bob, b) = people(2)
    # A long poll through the gateway is held by the gateway, and shows in its gauge while it is
    # held; the notification service only answered its checks and holds nothing more for it (it
    # may hold polls other clients of this fleet made to it directly: GraphQL subscriptions).
    notification = fleet.url("notification") + "/metrics"
    held_before = sample(scrape(notification), "hugmood_long_polls_held", process="notification") or 0
    cursor = bob.get("/api/v1/notifications/poll").json()["cursor"]  # without a cursor it answers at once
    poll = threading.Thread(
        target=lambda: bob.get("/api/v1/notifications/poll", params={"cursor": cursor, "timeout": 8})
    )
    poll.start()
    gateway_metrics = fleet.gateway_ops + "/metrics"
    try:
        wait_for(lambda: (sample(scrape(gateway_metrics), "hugmood_long_polls_held", process="gateway") or 0) >= 1)
        held = sample(scrape(notification), "hugmood_long_polls_held", process="notification") or 0
        assert held <= held_before
    finally:
        poll.join()
    assert sample(scrape(gateway_metrics), "hugmood_long_polls_held", process="gateway") == 0
    # The gateway counts requests by route and status, with latency, and shows each circuit.
    gateway = scrape(gateway_metrics)
    assert (sample(gateway, "hugmood_http_requests_total", route="/api/v1/notifications/poll", status="200") or 0) >= 1
    assert sample(gateway, "hugmood_http_request_duration_seconds_count", route="/api/v1/notifications/poll")
    assert sample(gateway, "hugmood_circuit_breaker_open", upstream="notification") == 0
    # The worker counts task outcomes across its processes; the relay reports the outbox backlog.
    worker = f"http://127.0.0.1:{fleet.env['WORKER_METRICS_PORT']}/metrics"
    succeeded = wait_for(
        lambda: sample(scrape(worker), "hugmood_celery_tasks_total", task="hugmood.events.consume", outcome="succeeded")
    )
    assert succeeded >= 1  # at least the UserRegistered events of these two people
    relay = scrape(f"http://127.0.0.1:{fleet.env['RELAY_METRICS_PORT']}/metrics")
    for schema in ("auth", "users", "moods", "hugs", "notifications", "social"):
        assert sample(relay, "hugmood_outbox_lag_seconds", schema=schema) is not None
        assert sample(relay, "hugmood_outbox_pending", schema=schema) is not None


def test_the_gateway_keeps_readiness_and_metrics_on_its_ops_port(fleet):
    client = Client(fleet.gateway, f"127.0.9.{uuid.uuid4().int % 250 + 1}")
    for path in ("/metrics", "/readyz"):
        public = client.get(path)
        assert public.status_code == 404, path
        assert public.headers["Content-Type"] == "application/problem+json"
        assert "RateLimit-Remaining" in public.headers, "a path nothing serves is metered like any other"
        assert requests.get(fleet.gateway_ops + path, timeout=5).status_code == 200
        # The port is the listening socket's, not the Host header's.
        posing = client.get(path, headers={"Host": fleet.gateway_ops.removeprefix("http://")})
        assert posing.status_code == 404, path
    # Liveness answers on both; the API on the public port only.
    assert client.get("/healthz").status_code == 200
    assert requests.get(fleet.gateway_ops + "/healthz", timeout=5).status_code == 200
    assert client.get("/api/v1/status").status_code == 200
    ops_status = requests.get(fleet.gateway_ops + "/api/v1/status", timeout=5)
    assert ops_status.status_code == 404 and ops_status.headers["Content-Type"] == "application/problem+json"


def test_no_password_token_or_note_reaches_any_log_line(fleet):
    client = Client(fleet.gateway, f"127.0.8.{uuid.uuid4().int % 250 + 1}")
    marker = uuid.uuid4().hex[:10]
    password, new_password = f"pw-{marker} first", f"pw-{marker} second"
    note = f"note-{marker}: a hard day"
    registered = client.post(
        "/api/v1/auth/register",
        json={"username": f"obs_{marker}", "email": f"obs_{marker}@example.com", "password": password},
    )
    assert registered.status_code == 201
    body = registered.json()
    client.bearer(body["access_token"])
    assert client.post("/api/v1/moods", json={"mood": "low", "intensity": 0.2, "note": note}).status_code == 201
    # A bad body that carries the note, and a wrong password, must not echo them into logs either.
    assert client.post("/api/v1/moods", json={"mood": "", "intensity": 7, "note": note}).status_code == 422
    wrong = client.put("/api/v1/auth/password", json={"current_password": new_password, "new_password": password})
    assert wrong.status_code == 403
    changed = client.put("/api/v1/auth/password", json={"current_password": password, "new_password": new_password})
    assert changed.status_code == 204
    login = client.post("/api/v1/auth/login", json={"username": f"obs_{marker}", "password": new_password})
    assert login.status_code == 200
    assert client.post("/api/v1/auth/password/reset", json={"email": f"obs_{marker}@example.com"}).status_code == 202
    secrets = {
        "password": password,
        "new password": new_password,
        "note": note,
        "access token": body["access_token"],
        "refresh token": body["refresh_token"],
        "login's refresh token": login.json()["refresh_token"],
    }
    # Wait until the reset has gone through the events to the (recording) email provider, so
    # every process has logged what it will about this user.
    sent = Path(fleet.env["NOTIFICATION_RECORDING_PATH"])
    email = f"obs_{marker}@example.com"
    reset = "Reset your HugMood password"
    mail = wait_for(
        lambda: sent.exists() and [ln for ln in sent.read_text().splitlines() if email in ln and reset in ln]
    )
    for n, word in enumerate(set(re.findall(r"[A-Za-z0-9_-]{40,}", mail[-1]))):
        secrets[f"reset email word {n}"] = word  # the reset token is one of them
    verify = [ln for ln in sent.read_text().splitlines() if email in ln and "Confirm your HugMood email" in ln]
    for n, word in enumerate(set(re.findall(r"[A-Za-z0-9_-]{40,}", "".join(verify)))):
        secrets[f"verification email word {n}"] = word  # the verification token is one of them
    logs = {path.name: path.read_text(errors="replace") for path in fleet.log_dir.glob("*.log")}
    assert {"gateway.log", "auth.log", "mood.log", "worker.log", "relay.log"} <= set(logs)
    leaks = [(name, what) for name, text in logs.items() for what, secret in secrets.items() if secret in text]
    assert leaks == []
