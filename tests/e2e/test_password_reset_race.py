"""One reset token confirmed by 20 clients at once, through the gateway to gunicorn's workers."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from services.auth.service import token_hash
from tests.e2e.fleet import Client

pytestmark = pytest.mark.e2e


def test_twenty_concurrent_confirmations_of_one_reset_token_let_exactly_one_through(fleet, new_user):
    user_id = new_user()["user"]["id"]
    token = secrets.token_urlsafe(32)
    conn = psycopg2.connect(fleet.env["DATABASE_URL"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO auth.password_reset_tokens (id, user_id, token_hash, expires_at)"
                " VALUES (gen_random_uuid(), %s, %s, %s)",
                (user_id, token_hash(token), datetime.now(UTC) + timedelta(hours=1)),
            )
    finally:
        conn.close()
    racers = 20
    start = threading.Barrier(racers)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def confirm(n: int) -> None:
        client = Client(fleet.gateway, f"127.0.7.{n + 1}")  # each its own rate-limit bucket
        start.wait()
        response = client.post(
            "/api/v1/auth/password/reset/confirm", json={"token": token, "password": f"harbour lights {n:02d}"}
        )
        with lock:
            answers.append((response.status_code, response.json().get("code", "") if response.content else ""))

    threads = [threading.Thread(target=confirm, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [204] + [422] * (racers - 1), answers
    assert {code for status, code in answers if status == 422} == {"auth.invalid_reset_token"}
