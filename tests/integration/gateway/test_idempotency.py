"""Idempotency-Key on POST through the gateway: a retry gets the first answer again, from any
gateway process, and nothing is created twice; every misuse is a 4xx problem."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, Response
from werkzeug.serving import make_server
from werkzeug.test import Client

from gateway import create_app
from gateway.idempotency import fingerprint
from shared.config import SERVICES
from shared.errors import PROBLEM_JSON
from shared.testing import serve_wsgi
from tests.integration.gateway.live_gateway import NOWHERE, gunicorn_gateway

MOOD = {"mood": "calm", "intensity": 0.4, "note": "tea by the window"}


@pytest.fixture(scope="module")
def mood_url(service_config: dict[str, Any], user_server: str) -> Iterator[str]:
    """The real mood service over real HTTP."""
    from services.mood import create_app as create_mood_app

    yield from serve_wsgi(create_mood_app({**service_config, "USER_URL": user_server}))


def make_gateway(redis_url: str, signing_key, **urls: str) -> Any:
    config = {f"{name.upper()}_URL": NOWHERE for name in SERVICES}
    config.update({f"{name.upper()}_URL": url for name, url in urls.items()})
    app = create_app({**config, "REDIS_URL": redis_url, **urls.pop("settings", {})})
    app.keys.url = None
    app.keys.load({"keys": [signing_key.public_jwk]})
    return app


@pytest.fixture
def two_gateways(redis_url, redis_client, signing_key, mood_url) -> Iterator[tuple[Client, Client]]:
    """Two gateway apps sharing one Redis, as two processes of the fleet do."""
    apps = [make_gateway(redis_url, signing_key, mood=mood_url) for _ in range(2)]
    yield Client(apps[0]), Client(apps[1])
    for app in apps:
        app.wake.stop()


def moods_of(client: Client, token: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/moods/user/me?limit=100", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.data
    return response.json["items"]


def post_mood(client: Client, token: str, key: str | None, body: Any = None, **kwargs: Any):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    if "data" in kwargs:
        return client.post("/api/v1/moods", headers=headers, content_type="application/json", **kwargs)
    return client.post("/api/v1/moods", headers=headers, json=MOOD if body is None else body)


def test_a_retry_on_another_gateway_gets_the_first_answer_and_creates_nothing(two_gateways, make_user):
    first_gw, second_gw = two_gateways
    token = make_user()[1]
    key = str(uuid.uuid4())
    first = post_mood(first_gw, token, key)
    assert first.status_code == 201, first.data
    assert "Idempotent-Replayed" not in first.headers
    retry = post_mood(second_gw, token, key)
    assert retry.status_code == 201
    assert retry.data == first.data
    assert retry.headers["Content-Type"] == first.headers["Content-Type"]
    assert retry.headers.get("Location") == first.headers.get("Location")
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["X-Request-ID"] != first.headers["X-Request-ID"]  # its own request id
    assert retry.headers["RateLimit-Remaining"]  # and its own rate-limit state
    assert [m["id"] for m in moods_of(first_gw, token)] == [first.json["id"]]


def test_the_same_json_written_differently_is_the_same_request(two_gateways, make_user):
    gw, _ = two_gateways
    token = make_user()[1]
    first = post_mood(gw, token, "k-1", data=b'{"mood": "calm", "intensity": 0.4}')
    again = post_mood(gw, token, "k-1", data=b'{ "intensity":0.4,"mood":"calm" }')
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.data == first.data
    assert len(moods_of(gw, token)) == 1


def test_without_a_key_every_post_creates(two_gateways, make_user):
    gw, _ = two_gateways
    token = make_user()[1]
    assert [post_mood(gw, token, None).status_code for _ in range(2)] == [201, 201]
    assert len(moods_of(gw, token)) == 2


def test_the_same_key_with_another_body_or_path_is_422(two_gateways, make_user):
    gw, other_gw = two_gateways
    token = make_user()[1]
    assert post_mood(gw, token, "shared-key").status_code == 201
    changed = post_mood(other_gw, token, "shared-key", {**MOOD, "intensity": 0.9})
    assert changed.status_code == 422 and changed.content_type == PROBLEM_JSON
    assert changed.json["code"] == "idempotency.key_reused"
    assert "Idempotency-Key" in changed.json["errors"]
    elsewhere = gw.post(
        "/api/v1/hugs/request",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "shared-key"},
        json=MOOD,
    )
    assert elsewhere.status_code == 422 and elsewhere.json["code"] == "idempotency.key_reused"
    assert len(moods_of(gw, token)) == 1


def test_keys_belong_to_their_caller(two_gateways, make_user):
    gw, _ = two_gateways
    alice, bob = make_user()[1], make_user()[1]
    first = post_mood(gw, alice, "same-key")
    theirs = post_mood(gw, bob, "same-key")  # same key, same body, another user: never alice's answer
    assert (first.status_code, theirs.status_code) == (201, 201)
    assert theirs.json["id"] != first.json["id"] and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json["user_id"] != first.json["user_id"]
    assert len(moods_of(gw, alice)) == len(moods_of(gw, bob)) == 1


@pytest.mark.parametrize("key", ["", " leading-space", "trailing-space ", "x" * 256, "caf\xe9", "tab\there", "\x7f"])
def test_a_malformed_key_is_400_and_nothing_is_created(two_gateways, make_user, key):
    gw, _ = two_gateways
    token = make_user()[1]
    response = post_mood(gw, token, key)
    assert response.status_code == 400 and response.content_type == PROBLEM_JSON
    assert response.json["code"] == "idempotency.key_malformed"
    assert response.headers["RateLimit-Limit"]  # counted like any refused request
    assert moods_of(gw, token) == []


def test_the_longest_key_is_accepted(two_gateways, make_user):
    gw, _ = two_gateways
    token = make_user()[1]
    key = "k" + " ~!" * 84 + "z"  # 254 visible characters and spaces
    assert len(key) == 254
    assert [post_mood(gw, token, key + "Z").status_code for _ in range(2)] == [201, 201]
    assert len(moods_of(gw, token)) == 1


def test_a_problem_answer_is_kept_too(two_gateways, make_user):
    """A 422 is the request's outcome: the retry gets it again, without the service being asked."""
    gw, other = two_gateways
    token = make_user()[1]
    first = post_mood(gw, token, "bad-body", {"mood": "", "intensity": 7})
    retry = post_mood(other, token, "bad-body", {"mood": "", "intensity": 7})
    assert first.status_code == retry.status_code == 422
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json["errors"] == first.json["errors"]


# ---- a scripted upstream: slow, failing, timing out ----------------------------------------------


@dataclass
class Stand:
    """A stand-in auth service: answers register with `status`, after `gate` opens."""

    url: str = ""
    status: int = 201
    delay: float = 0.0
    gate: threading.Event = field(default_factory=threading.Event)
    seen: int = 0


@pytest.fixture
def stand() -> Iterator[Stand]:
    upstream = Stand()
    upstream.gate.set()
    app = Flask("stand")

    @app.post("/api/v1/auth/register")
    def register() -> Response:
        upstream.seen += 1
        upstream.gate.wait(10)
        time.sleep(upstream.delay)
        body = b'{"user": {"id": "%d"}}' % upstream.seen
        return Response(body, upstream.status, content_type="application/json")

    @app.get("/readyz")
    def ready() -> Response:
        return Response(b"{}", 200, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream.url = f"http://127.0.0.1:{server.server_port}"
    yield upstream
    upstream.gate.set()
    server.shutdown()


# Timeouts that keep tests short: a lease of at least connect + read timeout + 1 s = 1.7 s.
SHORT_LEASE = {
    "GATEWAY_IDEMPOTENCY_LEASE_SECONDS": "1",
    "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.5",
    "GATEWAY_CONNECT_TIMEOUT_SECONDS": "0.2",
}


@pytest.fixture
def stand_gateways(stand, redis_url, redis_client, signing_key) -> Iterator[tuple[Any, Any]]:
    apps = [make_gateway(redis_url, signing_key, auth=stand.url, settings=SHORT_LEASE) for _ in range(2)]
    yield apps[0], apps[1]
    for app in apps:
        app.wake.stop()


REGISTRATION = {"username": "sam", "email": "sam@example.com", "password": "a quiet morning walk"}


def register(app: Any, key: str, address: str = "203.0.113.7"):
    return Client(app).post(
        "/api/v1/auth/register",
        json=REGISTRATION,
        headers={"Idempotency-Key": key},
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_retry_while_the_first_is_in_progress_is_409(stand, redis_url, redis_client, signing_key):
    first_gw, second_gw = (make_gateway(redis_url, signing_key, auth=stand.url) for _ in range(2))
    try:
        _in_progress(stand, first_gw, second_gw)
    finally:
        first_gw.wake.stop()
        second_gw.wake.stop()


def _in_progress(stand: Stand, first_gw: Any, second_gw: Any) -> None:
    stand.gate.clear()
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(register(first_gw, "slow")))
    first.start()
    deadline = time.monotonic() + 5
    while stand.seen == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    busy = register(second_gw, "slow")
    assert busy.status_code == 409 and busy.content_type == PROBLEM_JSON
    assert busy.json["code"] == "idempotency.in_progress" and busy.headers["Retry-After"]
    stand.gate.set()
    first.join(10)
    assert answers[0].status_code == 201
    again = register(second_gw, "slow")
    assert (again.status_code, again.data) == (201, answers[0].data)
    assert stand.seen == 1


def test_anonymous_keys_belong_to_the_client_address(stand, stand_gateways):
    gw, _ = stand_gateways
    assert register(gw, "anon", "203.0.113.7").status_code == 201
    assert register(gw, "anon", "198.51.100.9").headers.get("Idempotent-Replayed") is None
    assert stand.seen == 2


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_failed_or_throttled_answer_is_not_kept_and_the_retry_runs(stand, stand_gateways, status):
    """The service committed nothing: the key is released, and the retry (on the other gateway) runs."""
    gw, other = stand_gateways
    stand.status = status
    assert register(gw, "flaky").status_code == status
    stand.status = 201
    retry = register(other, "flaky")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert stand.seen == 2


def test_a_timeout_keeps_the_key_until_its_lease_ends(stand, stand_gateways):
    """The service may still be creating the object: a retry is 409 until the lease expires."""
    gw, other = stand_gateways
    stand.delay = 0.8  # over the 0.5 s read timeout
    assert register(gw, "unknown").status_code == 504
    retry = register(other, "unknown")
    assert retry.status_code == 409 and retry.json["code"] == "idempotency.in_progress"
    stand.delay = 0.0
    assert gw.idempotency.lease_ms == 1700  # the setting's 1 s raised to connect + read timeouts + 1 s
    time.sleep(1.8)
    assert register(other, "unknown").status_code == 201
    assert stand.seen == 2


def test_a_crashed_request_leaves_a_lease_that_expires(stand, redis_url, redis_client, signing_key):
    """A process that died mid-request never completes its lease: a retry after it runs."""
    app = make_gateway(redis_url, signing_key, auth=stand.url, settings=SHORT_LEASE)
    try:
        print_ = fingerprint("POST", "/api/v1/auth/register?", "application/json", b'{"username":"sam","email":"x"}')
        app.idempotency.begin("ip:203.0.113.7", "crash", print_)  # taken, then its process "died"
        assert register(app, "crash").status_code == 422  # another body than the lease's
        time.sleep(1.8)
        assert register(app, "crash").status_code == 201
        assert stand.seen == 1
    finally:
        app.wake.stop()


def test_redis_down_refuses_a_keyed_post_rather_than_risk_a_duplicate(stand, stand_gateways, redis_unreachable):
    gw, _ = stand_gateways
    with redis_unreachable(gw.redis):
        refused = register(gw, "no-redis")
        plain = Client(gw).post("/api/v1/auth/register", json=REGISTRATION)
    assert refused.status_code == 503 and refused.content_type == PROBLEM_JSON
    assert refused.json["code"] == "idempotency.unavailable" and refused.headers["Retry-After"]
    assert plain.status_code == 201  # without a key, the local rate limiter lets it through
    assert stand.seen == 1  # the keyed one never reached the service


def test_a_non_post_ignores_the_header(two_gateways, make_user):
    gw, _ = two_gateways
    token = make_user()[1]
    response = gw.get("/api/v1/moods/user/me", headers={"Authorization": f"Bearer {token}", "Idempotency-Key": ""})
    assert response.status_code == 200


def test_a_retry_reaching_another_process_replays(auth_server, redis_url, redis_client, signing_key, tmp_path):
    """The gateway as the Procfile runs it (gunicorn, its own OS process) and another gateway in
    this process, one Redis: register, lose the answer, retry on the other. One account is created
    and both answers are the same, whichever process took the first."""
    in_process = Client(make_gateway(redis_url, signing_key, auth=auth_server))
    try:
        with gunicorn_gateway({"AUTH_URL": auth_server, "REDIS_URL": redis_url}, tmp_path) as url:
            for first_on_gunicorn in (True, False):
                name = f"idem_{uuid.uuid4().hex[:10]}"
                body = {"username": name, "email": f"{name}@example.com", "password": "a quiet morning walk"}
                key = {"Idempotency-Key": str(uuid.uuid4())}

                def on_gunicorn(json: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
                    answer = requests.post(url + "/api/v1/auth/register", json=json, headers=headers, timeout=10)
                    return answer.status_code, answer.content, answer.headers

                def here(json: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
                    answer = in_process.post(  # from the address the gunicorn one sees: the same caller
                        "/api/v1/auth/register", json=json, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
                    )
                    return answer.status_code, answer.data, answer.headers

                first, second = (on_gunicorn, here) if first_on_gunicorn else (here, on_gunicorn)
                status, content, _ = first(body, key)
                assert status == 201, content
                retry_status, retry_content, retry_headers = second(body, key)
                assert (retry_status, retry_content) == (201, content)
                assert retry_headers["Idempotent-Replayed"] == "true"
                unkeyed_status, unkeyed_content, _ = second(body)
                assert unkeyed_status == 409 and b"auth.account_taken" in unkeyed_content
    finally:
        in_process.application.wake.stop()


def test_etags_304_and_412_pass_through_the_gateway(two_gateways, make_user):
    """The services' conditional answers reach the client unchanged: ETag, a body-less 304, 412."""
    gw, other = two_gateways
    token = make_user()[1]
    auth = {"Authorization": f"Bearer {token}"}
    created = post_mood(gw, token, None)
    path = created.headers["Location"]
    read = gw.get(path, headers=auth)
    tag = read.headers["ETag"]
    cached = other.get(path, headers={**auth, "If-None-Match": tag})
    assert (cached.status_code, cached.data, cached.headers["ETag"]) == (304, b"", tag)
    assert cached.headers["RateLimit-Limit"] and cached.headers["X-Request-ID"]
    assert gw.put(path, headers={**auth, "If-Match": tag}, json={"note": "one"}).status_code == 200
    stale = other.put(path, headers={**auth, "If-Match": tag}, json={"note": "two"})
    assert stale.status_code == 412 and stale.content_type == PROBLEM_JSON


def test_a_deleted_accounts_kept_answers_go_with_it(two_gateways, make_user, redis_client):
    """A kept answer may hold the user's data (a mood's note): account deletion drops them."""
    gw, _ = two_gateways
    user_id, token, _ = make_user()
    assert post_mood(gw, token, "to-forget").status_code == 201
    assert list(redis_client.scan_iter(match=f"hm:idem:user:{user_id}:*"))
    gw.application.data_rights.account_deleted(user_id)
    assert not list(redis_client.scan_iter(match=f"hm:idem:user:{user_id}:*"))
