"""The service-to-service client against a real HTTP server: timeouts, retries, breaker, identity."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask, g

from shared.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from shared.http import ServiceClient


class Upstream:
    """A tiny HTTP server whose behaviour the test scripts: status codes, delays; records requests."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[tuple[int, float]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                upstream.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                status, delay = upstream.script.pop(0) if upstream.script else (200, 0)
                time.sleep(delay)
                body = json.dumps({"ok": status < 400}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    server = Upstream()
    yield server
    server.close()


def make_client(upstream, **kwargs) -> ServiceClient:
    return ServiceClient(
        "mood", {"user": [upstream.url]}, token_provider=lambda: "service-token", backoff=0.01, **kwargs
    )


def test_identity_and_request_id_are_propagated(upstream):
    client = make_client(upstream)
    app = Flask("t")
    with app.test_request_context():
        g.request_id = "req-77"
        assert client.get("user", "/internal/x").status_code == 200
    headers = upstream.requests[0]["headers"]
    assert headers["Authorization"] == "Bearer service-token"
    assert headers["X-Request-ID"] == "req-77" and headers["X-HugMood-Caller"] == "mood"


def test_idempotent_calls_are_retried_and_others_are_not(upstream):
    client = make_client(upstream, retries=2)
    upstream.script = [(502, 0), (504, 0), (200, 0)]
    assert client.get("user", "/a").status_code == 200
    assert len(upstream.requests) == 3
    upstream.requests.clear()
    upstream.script = [(502, 0), (200, 0)]
    assert client.post("user", "/b", json={}).status_code == 502
    assert len(upstream.requests) == 1


def test_every_call_has_a_timeout(upstream):
    client = make_client(upstream, timeout=0.2, retries=0)
    upstream.script = [(200, 1.0)]
    started = time.perf_counter()
    with pytest.raises(GatewayTimeout):
        client.get("user", "/slow")
    assert time.perf_counter() - started < 0.9


def test_unreachable_service_is_a_502_then_an_open_circuit_answers_503_at_once():
    client = ServiceClient("mood", {"user": ["http://127.0.0.1:9"]}, retries=0, fail_max=2, reset_timeout=30)
    for _ in range(2):
        with pytest.raises(BadGateway):
            client.get("user", "/x")
    started = time.perf_counter()
    with pytest.raises(ServiceUnavailable) as caught:
        client.get("user", "/x")
    assert time.perf_counter() - started < 0.05
    assert int(caught.value.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("status", [404, 422, 503])
def test_refusals_do_not_open_the_circuit(upstream, status):
    client = make_client(upstream, fail_max=2, retries=0)
    upstream.script = [(status, 0)] * 5
    for _ in range(5):
        assert client.get("user", "/refused").status_code == status
    assert client.breakers["user"].current_state == "closed"


def test_read_gives_the_document_none_for_404_and_503_for_any_other_answer(upstream):
    client = make_client(upstream, retries=0)
    upstream.script = [(200, 0), (404, 0), (409, 0)]
    assert client.read("user", "/doc") == {"ok": True}
    assert client.read("user", "/gone") is None
    with pytest.raises(ServiceUnavailable) as caught:
        client.read("user", "/odd")
    assert caught.value.code == "upstream.unavailable" and "user service" in caught.value.detail


def test_read_through_cache_serves_fresh_then_stale_then_fails_closed(redis_client):
    from shared.http import ReadThroughCache

    calls = []

    def fetch():
        calls.append(1)
        return {"share_moods_with": "friends"}

    def down():
        raise ServiceUnavailable("user service down")

    stale_ok = ReadThroughCache(redis_client, "t:privacy", ttl=1, stale_ttl=60)
    assert stale_ok.get("u1", fetch) == {"share_moods_with": "friends"}
    assert stale_ok.get("u1", fetch) == {"share_moods_with": "friends"} and len(calls) == 1
    time.sleep(1.05)
    assert stale_ok.get("u1", down) == {"share_moods_with": "friends"}  # stale, owner down
    with pytest.raises(ServiceUnavailable):
        stale_ok.get("never-seen", down)

    strict = ReadThroughCache(redis_client, "t:privacy", ttl=1, stale_ttl=60, serve_stale=False)
    with pytest.raises(ServiceUnavailable):
        strict.get("u1", down)


def test_read_through_cache_does_not_keep_absence(redis_client):
    from shared.http import ReadThroughCache

    cache = ReadThroughCache(redis_client, "t:audience", ttl=5)
    assert cache.get("gone", lambda: None) is None
    assert redis_client.exists("t:audience:gone") == 0
    assert cache.get("gone", lambda: {"found": True}) == {"found": True}  # asked again, not served None
