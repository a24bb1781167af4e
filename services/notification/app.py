"""Notification service wiring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from services.notification import api
from services.notification.models import db
from services.notification.service import TimezoneSource
from services.notification.service.delivery import Addresses
from services.notification.service.providers import build_providers
from shared.app import create_base_app
from shared.config import DATABASE_SETTINGS, Setting, parse_bool, parse_positive, resolve_config
from shared.wake import WakeHub


def parse_choice(*choices: str) -> Callable[[str], str]:
    """A parser accepting one of `choices`."""

    def parse(value: str) -> str:
        value = value.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def parse_push_providers(value: str) -> tuple[str, ...]:
    """One push provider, or fcm and apns together ("fcm,apns": APNs for iOS, FCM for Android and web)."""
    kinds = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    allowed = {("logging",), ("recording",), ("fcm",), ("apns",), ("fcm", "apns"), ("apns", "fcm")}
    if kinds not in allowed:
        raise ValueError("expected logging, recording, fcm, apns, or fcm,apns")
    return kinds


SETTINGS = [
    *DATABASE_SETTINGS,
    Setting(
        "NOTIFICATION_PUSH_PROVIDER",
        parse_push_providers,
        ("logging",),
        help="push provider: logging (logs only), recording (tests), fcm, apns, or fcm,apns (APNs for iOS devices, "
        "FCM for Android and web)",
    ),
    Setting(
        "NOTIFICATION_EMAIL_PROVIDER",
        parse_choice("logging", "recording", "smtp"),
        "logging",
        help="email provider: logging (logs only), recording (tests) or smtp",
    ),
    Setting(
        "NOTIFICATION_RECORDING_PATH",
        str,
        "",
        help="with a recording provider: also append each sent message as a JSON line to this file",
    ),
    Setting(
        "NOTIFICATION_PASSWORD_RESET_URL",
        str,
        "http://localhost:4000/reset-password?token=",
        help="the link in password reset emails; the URL-encoded token is appended",
    ),
    Setting(
        "NOTIFICATION_EMAIL_VERIFY_URL",
        str,
        "http://localhost:4000/verify-email?token=",
        help="the link in email verification emails; the URL-encoded token is appended",
    ),
    Setting(
        "NOTIFICATION_DELIVERY_RETENTION_DAYS",
        parse_positive(float),
        30.0,
        help="push and email deliveries that were sent or given up are deleted this many days after they were "
        "created (by the delivery sweep); pending ones are kept",
    ),
    Setting(
        "NOTIFICATION_FCM_CREDENTIALS_FILE",
        str,
        "",
        help="fcm: path of the Firebase service-account JSON file",
    ),
    Setting("NOTIFICATION_FCM_PROJECT_ID", str, "", help="fcm: project id (default: the credentials file's)"),
    Setting("NOTIFICATION_FCM_URL", str, "https://fcm.googleapis.com", help="fcm: API base URL"),
    Setting("NOTIFICATION_APNS_KEY_FILE", str, "", help="apns: path of the .p8 signing key (ES256)"),
    Setting("NOTIFICATION_APNS_KEY_ID", str, "", help="apns: key id of the signing key"),
    Setting("NOTIFICATION_APNS_TEAM_ID", str, "", help="apns: Apple developer team id"),
    Setting("NOTIFICATION_APNS_TOPIC", str, "", help="apns: the app's bundle id"),
    Setting(
        "NOTIFICATION_APNS_URL",
        str,
        "https://api.push.apple.com",
        help="apns: API base URL (https://api.sandbox.push.apple.com for development)",
    ),
    Setting("NOTIFICATION_SMTP_HOST", str, "localhost", help="smtp: server host"),
    Setting("NOTIFICATION_SMTP_PORT", parse_positive(int), 587, help="smtp: server port"),
    Setting("NOTIFICATION_SMTP_USER", str, "", help="smtp: login user (empty: no login)"),
    Setting("NOTIFICATION_SMTP_PASSWORD", str, "", secret=True, help="smtp: login password"),
    Setting("NOTIFICATION_SMTP_FROM", str, "HugMood <no-reply@hugmood.app>", help="smtp: From address"),
    Setting("NOTIFICATION_SMTP_STARTTLS", parse_bool, True, help="smtp: upgrade the connection with STARTTLS"),
]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the notification service."""
    config = resolve_config("notification", config, SETTINGS)
    base = create_base_app("notification", config, db=db, public_endpoints=api.PUBLIC_ENDPOINTS)
    base.app.extensions["notification_providers"] = build_providers(config)
    base.app.extensions["notification_timezones"] = TimezoneSource(base.client, base.redis)
    base.app.extensions["notification_addresses"] = Addresses(base.client)
    base.app.extensions["notification_wake"] = WakeHub(config.REDIS_URL, process="notification")
    api.register_resources(base.api)
    return base.app
