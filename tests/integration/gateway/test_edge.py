"""What the gateway refuses at its edge, under real gunicorn workers: bodies that never arrive or
declare an absurd length, requests gunicorn's parser refuses, and the client_credentials grant."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from werkzeug.test import Client

from shared.errors import PROBLEM_JSON
from tests.integration.gateway.live_gateway import gunicorn_gateway
from tests.integration.gateway.test_forwarding import gateway, scripted  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def edge(auth_server, redis_url, tmp_path_factory) -> Iterator[str]:
    """A gunicorn gateway with a 1 s body timeout, as the Procfile runs it (gevent workers)."""
    env = {"AUTH_URL": auth_server, "REDIS_URL": redis_url, "GATEWAY_BODY_TIMEOUT_SECONDS": "1"}
    with gunicorn_gateway(env, tmp_path_factory.mktemp("edge")) as url:
        yield url.removeprefix("http://")


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def any_worker(request, auth_server, redis_url, tmp_path_factory) -> Iterator[str]:
    """A gunicorn process under each worker class the fleet runs (the gateway's app serves as
    any: gunicorn refuses these requests before an app sees them)."""
    env = {"AUTH_URL": auth_server, "REDIS_URL": redis_url}
    with gunicorn_gateway(env, tmp_path_factory.mktemp("any"), worker_class=request.param) as url:
        yield url.removeprefix("http://")


def exchange(address: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` on a connection of its own and read one answer (the connection must then close:
    a client that stops sending gets its answer and is let go, not held waiting for more)."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_a_body_that_never_arrives_gets_408_and_the_connection_is_let_go(edge):
    status, headers, body = exchange(
        edge,
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"user',
    )
    assert (status, headers["content-type"]) == (408, PROBLEM_JSON), body
    assert json.loads(body)["code"] == "request_timeout"


def test_an_absurd_content_length_is_refused_before_any_body_is_read(edge):
    status, headers, body = exchange(
        edge,
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000000\r\n\r\n",
    )
    assert (status, headers["content-type"]) == (413, PROBLEM_JSON), body
    assert json.loads(body)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"NOT A REQUEST LINE\r\n\r\n", 400, "bad_request"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 8300 + b"\r\n\r\n", 431, "request_header_fields_too_large"),
    ],
    ids=["bad-request-line", "uri-too-long", "header-too-large"],
)
def test_requests_gunicorn_refuses_get_problem_json(any_worker, raw, status, code):
    got, headers, body = exchange(any_worker, raw)
    assert (got, headers["content-type"]) == (status, PROBLEM_JSON), body
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"] == code and problem["request_id"]


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"data": {"grant_type": "client_credentials", "client_id": "hug", "client_secret": "guess"}},
        {"json": {"grant_type": "client_credentials", "client_id": "hug", "client_secret": "guess"}},
        {"data": "grant_type=password&grant_type=client%5Fcredentials&client_id=hug"},
    ],
    ids=["form", "json", "repeated-and-escaped"],
)
def test_client_credentials_are_refused_at_the_gateway(gateway, scripted, request_kwargs):  # noqa: F811
    if isinstance(request_kwargs.get("data"), str):
        request_kwargs = {**request_kwargs, "content_type": "application/x-www-form-urlencoded"}
    refused = Client(gateway).post("/api/v1/auth/token", **request_kwargs)
    assert (refused.status_code, refused.content_type) == (400, PROBLEM_JSON)
    assert refused.json["code"] == "unsupported_grant_type"
    assert scripted.seen == []  # the auth service was never asked
    password = Client(gateway).post("/api/v1/auth/token", data={"grant_type": "password", "username": "a"})
    assert password.status_code == 200 and scripted.seen == ["/api/v1/auth/token"]  # other grants go on
