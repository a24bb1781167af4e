"""What the gateway forwards: escaped paths through a real gunicorn gateway to the real mood service,
and which upstream answers count against a circuit (the gateway's and the services' own client)."""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server
from werkzeug.test import Client

from gateway import create_app
from shared.config import SERVICES
from shared.errors import PROBLEM_JSON
from shared.http import ServiceClient
from shared.testing import serve_wsgi
from tests.integration.gateway.live_gateway import NOWHERE, gunicorn_gateway


@pytest.fixture(scope="module")
def mood_service(service_config: dict[str, Any], user_server: str) -> Iterator[tuple[str, list[str]]]:
    """The real mood service over real HTTP; records each request target exactly as it arrived."""
    from services.mood import create_app as create_mood_app

    app = create_mood_app({**service_config, "USER_URL": user_server})
    targets: list[str] = []

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        targets.append(environ["REQUEST_URI"])
        return app(environ, start_response)

    for url in serve_wsgi(recording):
        yield url, targets


@pytest.fixture(scope="module")
def gateway_url(mood_service, auth_server: str, redis_url: str, tmp_path_factory) -> Iterator[str]:
    """The gateway as the Procfile runs it (gunicorn, a gevent worker): PATH_INFO as a real server decodes it."""
    env = {"AUTH_URL": auth_server, "MOOD_URL": mood_service[0], "REDIS_URL": redis_url}
    with gunicorn_gateway(env, tmp_path_factory.mktemp("gateway")) as url:
        yield url


def raw_get(base_url: str, target: str, token: str) -> tuple[int, str, bytes]:
    """GET with `target` sent exactly as given (http.client does not re-quote it)."""
    connection = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=10)
    try:
        connection.request("GET", target, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/moods/abc%00",
        "/api/v1/moods/%C3%A9",
        "/api/v1/moods/%FF",
        "/api/v1/moods/%ED%A0%80",
        "/api/v1/moods/a%20b%3Fc%23d",
    ],
)
def test_an_escaped_path_reaches_the_service_escaped_and_gets_its_404(
    gateway_url, mood_service, redis_client, token_for, target
):
    _, targets = mood_service
    targets.clear()
    status, content_type, body = raw_get(gateway_url, target, token_for())
    assert (status, content_type) == (404, PROBLEM_JSON), body
    assert targets == [target]  # the service itself answered, asked for the path the client sent


def test_a_literal_percent_stays_escaped_and_an_ordinary_target_goes_on_unchanged(
    gateway_url, mood_service, redis_client, token_for
):
    _, targets = mood_service
    targets.clear()
    sent = [
        "/api/v1/moods/100%25",
        "/api/v1/moods/%2541",  # not to be decoded twice into "A"
        f"/api/v1/moods/{uuid.uuid4()}",
        "/api/v1/moods/a-b.c_d~e!$&'()*+,;=:@f?q=%C3%A9&s=%25",  # the query is raw in WSGI
    ]
    for target in sent:
        status, content_type, body = raw_get(gateway_url, target, token_for())
        assert (status, content_type) == (404, PROBLEM_JSON), body
    assert targets == sent


@dataclass
class Scripted:
    """A stand-in upstream that answers every request with `status`, counting what reaches it."""

    url: str = ""
    status: int = 200
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    upstream = Scripted()
    app = Flask("scripted")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        upstream.seen.append(request.path)
        return Response(b'{"status":%d}' % upstream.status, upstream.status, content_type=PROBLEM_JSON)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream.url = f"http://127.0.0.1:{server.server_port}"
    yield upstream
    server.shutdown()


@pytest.fixture
def gateway(scripted, redis_url, redis_client):
    config = {f"{name.upper()}_URL": NOWHERE for name in SERVICES}
    app = create_app({**config, "AUTH_URL": scripted.url, "REDIS_URL": redis_url, "GATEWAY_BREAKER_FAIL_MAX": "5"})
    yield app
    app.wake.stop()


def refresh(gateway) -> Any:
    """What anyone may send, without a token: the auth service's refresh."""
    return Client(gateway).post("/api/v1/auth/refresh", json={"refresh_token": "anything"})


def test_an_upstream_answering_500s_keeps_its_circuit_closed_while_502s_open_it(gateway, scripted):
    scripted.status = 500
    assert [refresh(gateway).status_code for _ in range(10)] == [500] * 10
    assert gateway.upstreams["auth"].breaker.current_state == "closed"
    scripted.status = 200
    assert refresh(gateway).status_code == 200  # still forwarded
    assert len(scripted.seen) == 11
    scripted.status = 502
    assert [refresh(gateway).status_code for _ in range(5)] == [502] * 5
    refused = refresh(gateway)
    assert refused.status_code == 503 and refused.json["code"] == "upstream.circuit_open"
    # The open circuit answered without asking (the gateway's health probes of /readyz aside).
    assert len([path for path in scripted.seen if path != "/readyz"]) == 16


def test_the_services_client_counts_500s_as_answers_and_502s_as_failures(scripted):
    client = ServiceClient("test", {"user": [scripted.url]}, retries=0, fail_max=3)
    scripted.status = 500
    assert [client.get("user", "/x").status_code for _ in range(6)] == [500] * 6
    assert client.breakers["user"].current_state == "closed"
    scripted.status = 502
    for _ in range(3):
        client.get("user", "/x")
    assert client.breakers["user"].current_state == "open"
