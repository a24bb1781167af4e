"""Request and response shapes of the notification service."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.notification.models import TYPES
from shared.api import QueryInteger, StrictBoolean, UtcDateTime
from shared.pagination import PageArgs

CLOCK = re.compile(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z")  # \Z: "$" admits a final newline


class QueryBoolean(fields.Boolean):
    """`true` or `false` in a query string, nothing else."""

    truthy = frozenset({"true"})
    falsy = frozenset({"false"})


class Notification(Schema):
    id = fields.UUID()
    type = fields.String()
    title = fields.String()
    body = fields.String()
    data = fields.Dict()
    is_read = fields.Boolean()
    read_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class NotificationListArgs(PageArgs):
    unread = QueryBoolean(load_default=False)


class PollArgs(Schema):
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=512))
    timeout = QueryInteger(load_default=30, validate=validate.Range(min=1, max=60))


class NoArgs(Schema):
    """An endpoint that takes no query parameters."""


class Channels(Schema):
    in_app = StrictBoolean()
    push = StrictBoolean()
    email = StrictBoolean()


class PasswordResetChannels(Channels):
    @validates_schema
    def _email_stays_on(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("email") is False:
            raise ValidationError("The password reset email cannot be turned off.", "email")


class EmailVerificationChannels(Channels):
    @validates_schema
    def _email_stays_on(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("email") is False:
            raise ValidationError("The email verification email cannot be turned off.", "email")


_TYPE_CHANNELS = {"password_reset": PasswordResetChannels, "email_verification": EmailVerificationChannels}
TypeChannels = Schema.from_dict(
    {t: fields.Nested(_TYPE_CHANNELS.get(t, Channels)) for t in TYPES},
    name="TypeChannels",
)


class QuietHours(Schema):
    start = fields.String(required=True, validate=validate.Regexp(CLOCK, error="Use HH:MM (00:00-23:59)."))
    end = fields.String(required=True, validate=validate.Regexp(CLOCK, error="Use HH:MM (00:00-23:59)."))

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("start") is not None and data.get("start") == data.get("end"):
            raise ValidationError("start and end must differ.", "end")


class PreferencesUpdate(Schema):
    """Any part of the preferences shape; deep-merged into what is stored."""

    types = fields.Nested(TypeChannels)
    quiet_hours = fields.Nested(QuietHours, allow_none=True)


class Preferences(PreferencesUpdate):
    """The stored preferences: every type's channels, and quiet hours (or null)."""


class DeviceCreate(Schema):
    device_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    device_type = fields.String(required=True, validate=validate.OneOf(("ios", "android", "web")))


class Device(Schema):
    id = fields.UUID()
    device_token = fields.String()
    device_type = fields.String()
    is_active = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class DeliverySummary(Schema):
    """A push or email in the owner's export: what, when and how it went; never its payload (a
    pending password reset email carries a live token)."""

    id = fields.UUID()
    notification_id = fields.UUID(allow_none=True)
    device_id = fields.UUID(allow_none=True)
    channel = fields.String()
    type = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    due_at = UtcDateTime()
    sent_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class Devices(Schema):
    items = fields.List(fields.Nested(Device))


class PollAnswer(Schema):
    items = fields.List(fields.Nested(Notification))
    cursor = fields.String(allow_none=True)


class ReadAll(Schema):
    updated = fields.Integer()
