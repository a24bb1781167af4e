"""Provider adapters against local fakes: FCM and APNs over HTTP, SMTP via aiosmtpd."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.notification.service.providers import (
    Apns,
    DeliveryFailed,
    Email,
    Fcm,
    InvalidToken,
    PermanentFailure,
    PushMessage,
    Recording,
    Smtp,
    build_providers,
    google_token_source,
)
from shared.config import ConfigError, load_config

MESSAGE = PushMessage(token="device-token-1", device_type="android", title="Hi", body="A hug", data={"hug_id": "h1"})


class FakeApi:
    """A tiny HTTP server answering each path with a queued (status, body), recording requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[str, list[tuple[int, Any]]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": raw})
                status, body = fake.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, path: str) -> tuple[int, Any]:
        for prefix, queue in self.answers.items():
            if path.startswith(prefix) and queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        return 200, {}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def closing() -> Iterator[Any]:
    """Close the adapters' HTTP clients after the test."""
    made: list[Any] = []

    def track(adapter: Any) -> Any:
        made.append(adapter)
        return adapter

    yield track
    for adapter in made:
        adapter.close()


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    yield api
    api.close()


@pytest.fixture
def service_account(tmp_path, fake_api) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "hugmood-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@hugmood-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{fake_api.url}/token",
            }
        )
    )
    fake_api.answers["/token"] = [(200, {"access_token": "oauth-access-1", "expires_in": 3600, "token_type": "Bearer"})]
    return str(path)


def fcm_error(status: int, code: str, error_code: str | None = None) -> dict[str, Any]:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
    return {"error": {"code": status, "status": code, "details": details if error_code else []}}


def test_fcm_sends_with_an_oauth_token_from_the_service_account(closing, fake_api, service_account):
    fcm = closing(Fcm("hugmood-test", google_token_source(service_account), fake_api.url))
    fake_api.answers["/v1/"] = [(200, {"name": "projects/hugmood-test/messages/1"})]
    fcm.send(MESSAGE)
    fcm.send(MESSAGE)
    token_calls = [r for r in fake_api.requests if r["path"] == "/token"]
    assert len(token_calls) == 1  # the OAuth token is reused until it expires
    assert "assertion=" in token_calls[0]["body"]
    sends = [r for r in fake_api.requests if r["path"].startswith("/v1/")]
    assert sends[0]["path"] == "/v1/projects/hugmood-test/messages:send"
    assert sends[0]["headers"]["Authorization"] == "Bearer oauth-access-1"
    body = json.loads(sends[0]["body"])["message"]
    assert body["token"] == "device-token-1" and body["notification"] == {"title": "Hi", "body": "A hug"}
    assert body["data"] == {"hug_id": "h1"}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), InvalidToken),
        (400, fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), InvalidToken),
        (500, fcm_error(500, "INTERNAL"), DeliveryFailed),
        (503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), DeliveryFailed),
        (429, fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), DeliveryFailed),
        (401, fcm_error(401, "UNAUTHENTICATED"), DeliveryFailed),
        (413, {"error": {}}, PermanentFailure),
    ],
)
def test_fcm_answers_map_to_outcomes(closing, fake_api, status, body, error):
    fcm = closing(Fcm("p", lambda: "t", fake_api.url))
    fake_api.answers["/v1/"] = [(status, body)]
    with pytest.raises(error):
        fcm.send(MESSAGE)


def test_fcm_unreachable_is_retryable(closing):
    with pytest.raises(DeliveryFailed):
        closing(Fcm("p", lambda: "t", "http://127.0.0.1:9")).send(MESSAGE)


@pytest.fixture
def apns_key() -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def test_apns_sends_with_an_es256_provider_token(closing, fake_api, apns_key):
    pem, public = apns_key
    apns = closing(Apns(key_pem=pem, key_id="KEY123", team_id="TEAM42", topic="app.hugmood", base_url=fake_api.url))
    apns.send(MESSAGE)
    apns.send(MESSAGE)
    first, second = fake_api.requests
    assert first["path"] == "/3/device/device-token-1"
    assert first["headers"]["apns-topic"] == "app.hugmood" and first["headers"]["apns-push-type"] == "alert"
    token = first["headers"]["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "KEY123", "typ": "JWT"}
    assert jwt.decode(token, public, algorithms=["ES256"])["iss"] == "TEAM42"
    assert second["headers"]["authorization"] == first["headers"]["authorization"]  # cached
    body = json.loads(first["body"])
    assert body["aps"]["alert"] == {"title": "Hi", "body": "A hug"} and body["hug_id"] == "h1"


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (410, "Unregistered", InvalidToken),
        (400, "BadDeviceToken", InvalidToken),
        (400, "DeviceTokenNotForTopic", InvalidToken),
        (400, "PayloadTooLarge", PermanentFailure),
        (403, "ExpiredProviderToken", DeliveryFailed),
        (429, "TooManyRequests", DeliveryFailed),
        (500, "InternalServerError", DeliveryFailed),
        (503, "ServiceUnavailable", DeliveryFailed),
    ],
)
def test_apns_answers_map_to_outcomes(closing, fake_api, apns_key, status, reason, error):
    apns = closing(Apns(key_pem=apns_key[0], key_id="K", team_id="T", topic="app", base_url=fake_api.url))
    fake_api.answers["/3/"] = [(status, {"reason": reason})]
    with pytest.raises(error):
        apns.send(MESSAGE)


def test_apns_renews_an_expired_provider_token(closing, fake_api, apns_key):
    apns = closing(Apns(key_pem=apns_key[0], key_id="K", team_id="T", topic="app", base_url=fake_api.url))
    old = apns.provider_token()
    apns._token = (old, 0.0)  # signed long ago
    fake_api.answers["/3/"] = [(403, {"reason": "ExpiredProviderToken"}), (200, {})]
    with pytest.raises(DeliveryFailed):
        apns.send(MESSAGE)
    apns.send(MESSAGE)
    assert fake_api.requests[0]["headers"]["authorization"] != fake_api.requests[1]["headers"]["authorization"]


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, SmtpSink]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # aiosmtpd's start-up check cannot work with port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()


def test_smtp_sends_the_email(smtp_server):
    port, sink = smtp_server
    smtp = Smtp(host="127.0.0.1", port=port, sender="HugMood <no-reply@hugmood.test>", starttls=False)
    smtp.send(Email(to="alice@example.com", subject="Reset your password", body="the link: https://x/?token=abc"))
    (envelope,) = sink.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    text = envelope.content.decode()
    assert "Subject: Reset your password" in text and "token=abc" in text


def test_smtp_without_starttls_support_or_server_is_retryable(smtp_server):
    port, _ = smtp_server
    with pytest.raises(DeliveryFailed):
        Smtp(host="127.0.0.1", port=port, sender="a@b.test", starttls=True).send(Email("a@b.test", "s", "b"))
    with pytest.raises(DeliveryFailed):
        Smtp(host="127.0.0.1", port=9, sender="a@b.test", starttls=False).send(Email("a@b.test", "s", "b"))


def test_recording_provider_appends_json_lines_and_rejects_invalid_tokens(tmp_path):
    path = tmp_path / "sent.jsonl"
    recording = Recording("push", str(path))
    recording.send(MESSAGE)
    with pytest.raises(InvalidToken):
        recording.send(PushMessage("invalid-abc", "ios", "t", "b"))
    with pytest.raises(DeliveryFailed):
        recording.send(PushMessage("failing-abc", "ios", "t", "b"))
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["token"] == "device-token-1" and len(recording.sent) == 1


def test_providers_are_chosen_by_configuration(closing, tmp_path, apns_key, service_account):
    key_file = tmp_path / "apns.p8"
    key_file.write_text(apns_key[0])
    base = {"DATABASE_URL": "postgresql://x@localhost/x", "HUGMOOD_ENV": "development"}
    from services.notification.app import SETTINGS

    def build(**env: str):
        return build_providers(load_config("notification", {**base, **env}, SETTINGS))

    default = build()
    assert type(default.push).__name__ == "LoggingPush" and type(default.email).__name__ == "LoggingEmail"
    fcm_only = build(NOTIFICATION_PUSH_PROVIDER="fcm", NOTIFICATION_FCM_CREDENTIALS_FILE=service_account).push
    assert {device: type(p) for device, p in fcm_only.routes.items()} == {"android": Fcm, "web": Fcm, "ios": Fcm}
    apns_settings = {
        "NOTIFICATION_APNS_KEY_FILE": str(key_file),
        "NOTIFICATION_APNS_KEY_ID": "K",
        "NOTIFICATION_APNS_TEAM_ID": "T",
        "NOTIFICATION_APNS_TOPIC": "app",
    }
    apns_only = build(NOTIFICATION_PUSH_PROVIDER="apns", **apns_settings).push
    assert isinstance(closing(apns_only.routes["ios"]), Apns) and set(apns_only.routes) == {"ios"}
    with pytest.raises(PermanentFailure, match="android"):
        apns_only.send(PushMessage(token="t", device_type="android", title="t", body="b", data={}))
    both = build(
        NOTIFICATION_PUSH_PROVIDER="fcm, apns", NOTIFICATION_FCM_CREDENTIALS_FILE=service_account, **apns_settings
    ).push
    assert isinstance(closing(both.routes["ios"]), Apns)
    assert isinstance(both.routes["android"], Fcm) and isinstance(both.routes["web"], Fcm)
    assert isinstance(build(NOTIFICATION_EMAIL_PROVIDER="smtp").email, Smtp)
    with pytest.raises(ConfigError, match="NOTIFICATION_APNS_KEY_FILE"):
        build(NOTIFICATION_PUSH_PROVIDER="apns")
    with pytest.raises(ConfigError, match="NOTIFICATION_PUSH_PROVIDER"):
        build(NOTIFICATION_PUSH_PROVIDER="pigeon")
