"""Push and email providers: logging (default), recording (tests), FCM, APNs and SMTP."""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from shared.config import Config, ConfigError

log = logging.getLogger("hugmood.notification.providers")


class InvalidToken(Exception):
    """The push service says this device token will never work again: deactivate the device."""


class DeliveryFailed(Exception):
    """A send failed in a way that may pass: retry later."""


class PermanentFailure(Exception):
    """A send failed in a way retrying cannot fix (bad address, bad request): give up."""


@dataclass(frozen=True)
class PushMessage:
    token: str
    device_type: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


class PushProvider(Protocol):
    def send(self, message: PushMessage) -> None: ...


class EmailProvider(Protocol):
    def send(self, message: Email) -> None: ...


def _mask(value: str) -> str:
    """Enough of a token or address to tell them apart in logs, never the whole secret."""
    return f"…{value[-4:]}" if len(value) > 8 else "…"


class LoggingPush:
    """Logs that a push would go out (type and title; never the token)."""

    def send(self, message: PushMessage) -> None:
        log.info(
            "push",
            extra={"device_type": message.device_type, "token": _mask(message.token), "title": message.title},
        )


class LoggingEmail:
    """Logs that an email would go out (masked address and subject; never the body: it may hold a token)."""

    def send(self, message: Email) -> None:
        log.info("email", extra={"to": _mask(message.to), "subject": message.subject})


class Recording:
    """Keeps every message in memory and, with a path, appends it as a JSON line (for other processes).

    Tokens starting with one of `invalid_prefixes` are rejected as invalid, and those starting with
    one of `failing_prefixes` fail in a retryable way, so tests can drive both paths.
    """

    def __init__(
        self,
        kind: str,
        path: str = "",
        invalid_prefixes: tuple[str, ...] = ("invalid-",),
        failing_prefixes: tuple[str, ...] = ("failing-",),
    ):
        self.kind = kind
        self.path = Path(path) if path else None
        self.invalid_prefixes = invalid_prefixes
        self.failing_prefixes = failing_prefixes
        self.sent: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, message: PushMessage | Email) -> None:
        target = message.token if isinstance(message, PushMessage) else message.to
        if target.startswith(self.invalid_prefixes):
            raise InvalidToken("rejected by the recording provider")
        if target.startswith(self.failing_prefixes):
            raise DeliveryFailed("the recording provider failed on purpose")
        record = {"channel": self.kind, "at": time.time(), **asdict(message)}
        with self._lock:
            self.sent.append(record)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record) + "\n")


FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def google_token_source(credentials_file: str) -> Callable[[], str]:
    """OAuth bearer tokens from a service-account JSON file (google-auth refreshes them)."""
    import google.auth.transport.requests
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(credentials_file, scopes=[FCM_SCOPE])
    lock = threading.Lock()

    def token() -> str:
        with lock:
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())
            return credentials.token

    return token


class Fcm:
    """Firebase Cloud Messaging, HTTP v1 API."""

    def __init__(self, project_id: str, token_source: Callable[[], str], base_url: str = "https://fcm.googleapis.com"):
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.token_source = token_source
        self.http = httpx.Client(timeout=10.0, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def send(self, message: PushMessage) -> None:
        body = {
            "message": {
                "token": message.token,
                "notification": {"title": message.title, "body": message.body},
                # FCM data values must be strings.
                "data": {k: v if isinstance(v, str) else json.dumps(v) for k, v in message.data.items()},
            }
        }
        try:
            response = self.http.post(self.url, json=body, headers={"Authorization": f"Bearer {self.token_source()}"})
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"FCM unreachable: {type(exc).__name__}") from exc
        fcm_raise_for(response.status_code, response.text)


def fcm_raise_for(status: int, text: str) -> None:
    """Map an FCM v1 answer to success, InvalidToken, DeliveryFailed or PermanentFailure."""
    if status == 200:
        return
    try:
        error = json.loads(text).get("error", {})
    except ValueError:
        error = {}
    codes = {d.get("errorCode") for d in error.get("details", []) if isinstance(d, dict)}
    codes.add(error.get("status"))
    if status == 404 or "UNREGISTERED" in codes:
        raise InvalidToken("FCM: the token is unregistered")
    if status == 400 and "INVALID_ARGUMENT" in codes:
        # FCM answers INVALID_ARGUMENT for a malformed registration token (our payloads are fixed).
        raise InvalidToken("FCM: the token is invalid")
    if status == 429 or status >= 500 or status in (401, 403):
        raise DeliveryFailed(f"FCM answered {status}")
    raise PermanentFailure(f"FCM answered {status}")


class Apns:
    """Apple Push Notification service, token-based (ES256 provider JWT) over HTTP/2."""

    TOKEN_LIFETIME = 50 * 60  # Apple refuses provider tokens older than an hour.

    def __init__(
        self,
        *,
        key_pem: str,
        key_id: str,
        team_id: str,
        topic: str,
        base_url: str = "https://api.push.apple.com",
    ):
        self.key_pem, self.key_id, self.team_id, self.topic = key_pem, key_id, team_id, topic
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(http2=True, timeout=10.0, trust_env=False)
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def provider_token(self, *, renew: bool = False) -> str:
        """The cached provider JWT, signed again when it nears Apple's one-hour limit."""
        with self._lock:
            now = time.time()
            if renew or self._token is None or now - self._token[1] > self.TOKEN_LIFETIME:
                signed = jwt.encode(
                    {"iss": self.team_id, "iat": int(now)},
                    self.key_pem,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
                self._token = (signed, now)
            return self._token[0]

    def send(self, message: PushMessage) -> None:
        body = {"aps": {"alert": {"title": message.title, "body": message.body}, "sound": "default"}, **message.data}
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
        }
        try:
            response = self.http.post(f"{self.base_url}/3/device/{message.token}", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"APNs unreachable: {type(exc).__name__}") from exc
        if response.status_code == 403 and _apns_reason(response.text) == "ExpiredProviderToken":
            self.provider_token(renew=True)
        apns_raise_for(response.status_code, response.text)


def _apns_reason(text: str) -> str:
    try:
        return str(json.loads(text).get("reason", ""))
    except (ValueError, AttributeError):
        return ""


def apns_raise_for(status: int, text: str) -> None:
    """Map an APNs answer to success, InvalidToken, DeliveryFailed or PermanentFailure."""
    if status == 200:
        return
    reason = _apns_reason(text)
    if status == 410 or reason in {"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"}:
        raise InvalidToken(f"APNs: {reason or status}")
    if status in (403, 429) or status >= 500:
        raise DeliveryFailed(f"APNs answered {status} {reason}")
    raise PermanentFailure(f"APNs answered {status} {reason}")


class Smtp:
    """Email over SMTP, optionally with STARTTLS and a login."""

    def __init__(self, *, host: str, port: int, sender: str, user: str = "", password: str = "", starttls: bool = True):
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls

    def send(self, message: Email) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.to, message.subject
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure("SMTP refused the recipient") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP failed: {type(exc).__name__}") from exc


@dataclass
class Providers:
    push: PushProvider
    email: EmailProvider


def _required(config: Config, names: list[str]) -> None:
    missing = [f"{n} is required by the chosen provider" for n in names if not config.get(n)]
    if missing:
        raise ConfigError("notification", missing)


class ByDeviceType:
    """Each device type to the push service that serves it; a type no provider serves cannot be sent to."""

    def __init__(self, routes: dict[str, PushProvider]):
        self.routes = routes

    def send(self, message: PushMessage) -> None:
        provider = self.routes.get(message.device_type)
        if provider is None:
            raise PermanentFailure(f"no push provider is configured for {message.device_type} devices")
        provider.send(message)


def _push_provider(kind: str, config: Config) -> PushProvider:
    if kind == "recording":
        return Recording("push", config.NOTIFICATION_RECORDING_PATH)
    if kind == "fcm":
        _required(config, ["NOTIFICATION_FCM_CREDENTIALS_FILE"])
        credentials_file = config.NOTIFICATION_FCM_CREDENTIALS_FILE
        project = config.NOTIFICATION_FCM_PROJECT_ID or json.loads(Path(credentials_file).read_text())["project_id"]
        return Fcm(project, google_token_source(credentials_file), config.NOTIFICATION_FCM_URL)
    if kind == "apns":
        names = ["NOTIFICATION_APNS_KEY_FILE", "NOTIFICATION_APNS_KEY_ID", "NOTIFICATION_APNS_TEAM_ID"]
        _required(config, [*names, "NOTIFICATION_APNS_TOPIC"])
        return Apns(
            key_pem=Path(config.NOTIFICATION_APNS_KEY_FILE).read_text(),
            key_id=config.NOTIFICATION_APNS_KEY_ID,
            team_id=config.NOTIFICATION_APNS_TEAM_ID,
            topic=config.NOTIFICATION_APNS_TOPIC,
            base_url=config.NOTIFICATION_APNS_URL,
        )
    return LoggingPush()


def build_providers(config: Config) -> Providers:
    """The push and email providers the configuration names (credentials are read lazily where possible)."""
    recording_path = config.NOTIFICATION_RECORDING_PATH
    kinds = config.NOTIFICATION_PUSH_PROVIDER
    if isinstance(kinds, str):
        kinds = (kinds,)
    by_kind = {kind: _push_provider(kind, config) for kind in kinds}
    push: PushProvider
    if set(kinds) & {"fcm", "apns"}:
        # APNs only reaches Apple devices; FCM reaches Android and web (and iOS when APNs is not set up).
        routes = {
            "android": by_kind.get("fcm"),
            "web": by_kind.get("fcm"),
            "ios": by_kind.get("apns", by_kind.get("fcm")),
        }
        push = ByDeviceType({device: provider for device, provider in routes.items() if provider is not None})
    else:
        push = by_kind[kinds[0]]
    email_kind = config.NOTIFICATION_EMAIL_PROVIDER
    email: EmailProvider
    if email_kind == "recording":
        email = Recording("email", recording_path)
    elif email_kind == "smtp":
        _required(config, ["NOTIFICATION_SMTP_HOST"])
        email = Smtp(
            host=config.NOTIFICATION_SMTP_HOST,
            port=config.NOTIFICATION_SMTP_PORT,
            sender=config.NOTIFICATION_SMTP_FROM,
            user=config.NOTIFICATION_SMTP_USER,
            password=config.NOTIFICATION_SMTP_PASSWORD,
            starttls=config.NOTIFICATION_SMTP_STARTTLS,
        )
    else:
        email = LoggingEmail()
    return Providers(push, email)
