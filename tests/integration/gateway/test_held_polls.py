"""Long polls held by the gateway, against a recording stand-in for the notification service's
check and a real Redis: a wake-up whose news follows the poll's cursor is answered without asking
the service again; any other wake-up sends the gateway back to ask."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask, jsonify, request
from werkzeug.serving import make_server
from werkzeug.test import Client

from gateway import create_app
from shared.pagination import encode_cursor
from shared.wake import NOTIFICATION_WAKE_CHANNEL, POLL_CHECK_PATH, POLL_WAIT_HEADER, wake_message

EMPTY = encode_cursor(0)


@pytest.fixture
def checks() -> Iterator[tuple[str, list[float]]]:
    """A notification service that has nothing newer for anyone: it records when it was asked."""
    seen: list[float] = []
    app = Flask("checks")

    @app.get(POLL_CHECK_PATH)
    def check():
        seen.append(time.monotonic())
        response = jsonify({"items": [], "cursor": request.args["cursor"]})
        response.headers[POLL_WAIT_HEADER] = request.args.get("timeout", "30")
        return response

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


@pytest.fixture
def gateway(checks, redis_url, redis_client, signing_key):
    url, _ = checks
    app = create_app({"REDIS_URL": redis_url, "NOTIFICATION_URL": url, "AUTH_URL": "http://127.0.0.1:9"})
    app.keys.url = None
    app.keys.load({"keys": [signing_key.public_jwk]})
    yield app
    app.wake.stop()


def held_poll(gateway, token: str, query: str):
    return Client(gateway).get(f"/api/v1/notifications/poll?{query}", headers={"Authorization": f"Bearer {token}"})


def publish(redis_url: str, user_id: str, news: dict | None) -> None:
    client = redis.Redis.from_url(redis_url)
    client.publish(NOTIFICATION_WAKE_CHANNEL, wake_message(user_id, news))
    client.close()


def hold_then_wake(gateway, token, query, redis_url, user_id, news):
    """The poll's answer, and when the wake-up was published."""
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(held_poll, gateway, token, query)
        gateway.wake.subscribed.wait(5)
        time.sleep(0.3)  # the poll is held
        published = time.monotonic()
        publish(redis_url, user_id, news)
        return answer.result(timeout=10), published


def test_news_that_follows_the_cursor_is_answered_by_the_gateway_itself(gateway, checks, redis_url, token_for):
    user_id = str(uuid.uuid4())
    item = {"id": str(uuid.uuid4()), "type": "hug_received", "title": "A hug", "data": {"b": 1, "a": 2}}
    news = {"after": EMPTY, "cursor": encode_cursor(1), "items": [item]}
    started = time.monotonic()
    response, _ = hold_then_wake(gateway, token_for(user_id), f"cursor={EMPTY}&timeout=10", redis_url, user_id, news)
    assert response.status_code == 200 and time.monotonic() - started < 5
    assert response.json == {"items": [item], "cursor": encode_cursor(1)}
    assert response.content_type == "application/json" and response.headers["X-Request-ID"]
    # the bytes a service's Flask would send: keys sorted, compact, a final newline
    assert response.data == (json.dumps(response.json, sort_keys=True, separators=(",", ":")) + "\n").encode()
    _, seen = checks
    assert len(seen) == 1  # the first check only


def test_news_for_another_cursor_or_user_sends_the_gateway_back_to_ask(gateway, checks, redis_url, token_for):
    user_id = str(uuid.uuid4())
    token = token_for(user_id)
    _, seen = checks
    later = {"after": encode_cursor(3), "cursor": encode_cursor(4), "items": [{"id": "x"}]}
    response, published = hold_then_wake(gateway, token, f"cursor={EMPTY}&timeout=3", redis_url, user_id, later)
    assert response.json == {"items": [], "cursor": EMPTY}  # the service's answer, not the news
    assert any(published < at < published + 1 for at in seen)  # woken, it asked again at once
    seen.clear()
    someone_else = {"after": EMPTY, "cursor": encode_cursor(1), "items": [{"id": "not yours"}]}
    response, published = hold_then_wake(
        gateway, token, f"cursor={EMPTY}&timeout=3", redis_url, str(uuid.uuid4()), someone_else
    )
    assert response.json == {"items": [], "cursor": EMPTY}
    assert not any(published < at < published + 1 for at in seen)  # not woken by another's news


def test_a_poll_that_times_out_is_answered_by_the_gateway_without_asking_again(gateway, checks, token_for):
    _, seen = checks
    cursor = encode_cursor(7)
    started = time.monotonic()
    response = held_poll(gateway, token_for(str(uuid.uuid4())), f"cursor={cursor}&timeout=1")
    assert response.status_code == 200 and response.json == {"items": [], "cursor": cursor}
    assert 1 <= time.monotonic() - started < 3
    assert len(seen) == 1  # the first check only: the next poll, from this cursor, starts with one
    assert response.data == (json.dumps(response.json, sort_keys=True, separators=(",", ":")) + "\n").encode()
