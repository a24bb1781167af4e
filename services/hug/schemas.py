"""Request and response shapes of the hug service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from services.hug.service.catalogue import TYPE_NAMES, label_of
from shared.api import UtcAwareDateTime, UtcDateTime
from shared.pagination import PageArgs

MESSAGE = validate.Length(max=500)
MAX_GROUP_LIFETIME = timedelta(days=30)
MAX_PARTICIPANTS = 50
_TYPE = validate.OneOf(TYPE_NAMES, error="Unknown hug type; see GET /api/v1/hugs/types.")


class QueryBoolean(fields.Boolean):
    """A query-string boolean: exactly `true` or `false` (not 1, yes or on)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if value in ("true", "false"):
            return value == "true"
        raise self.make_error("invalid", input=value)


class TypesArgs(Schema):
    """The type catalogue takes no query parameters."""


class HugType(Schema):
    name = fields.String()
    label = fields.String()
    description = fields.String()


class HugTypes(Schema):
    items = fields.List(fields.Nested(HugType))


class HugCreate(Schema):
    recipient_id = fields.UUID(required=True)
    type = fields.String(required=True, validate=_TYPE)
    message = fields.String(allow_none=True, validate=MESSAGE)


class Hug(Schema):
    id = fields.UUID()
    sender_id = fields.UUID()
    recipient_id = fields.UUID()
    type = fields.String()
    type_label = fields.Function(lambda hug: label_of(hug.type))
    message = fields.String(allow_none=True)
    is_read = fields.Boolean()
    read_at = UtcDateTime(allow_none=True)
    hug_request_id = fields.UUID(allow_none=True)
    group_hug_id = fields.UUID(allow_none=True)
    created_at = UtcDateTime()


class NoArgs(Schema):
    """An endpoint that takes no query parameters."""


class ShareableHug(Schema):
    """A hug as the social service sees it for sharing: never the message."""

    id = fields.UUID()
    sender_id = fields.UUID()
    recipient_id = fields.UUID()
    type = fields.String()
    type_label = fields.Function(lambda hug: label_of(hug.type))
    created_at = UtcDateTime()


class ReceivedArgs(PageArgs):
    unread = QueryBoolean(load_default=None)


class SentArgs(PageArgs):
    """Sent hugs take only the paging parameters."""


class HugRequestCreate(Schema):
    recipient_id = fields.UUID(allow_none=True)
    message = fields.String(allow_none=True, validate=MESSAGE)


class HugRequestAnswer(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("accepted", "declined")))
    type = fields.String(allow_none=True, validate=_TYPE)
    message = fields.String(allow_none=True, validate=MESSAGE)


class HugRequestListArgs(PageArgs):
    direction = fields.String(load_default="incoming", validate=validate.OneOf(("incoming", "outgoing")))
    status = fields.String(load_default=None, validate=validate.OneOf(("pending", "accepted", "declined")))


class HugRequest(Schema):
    id = fields.UUID()
    requester_id = fields.UUID()
    recipient_id = fields.UUID(allow_none=True)
    is_community = fields.Function(lambda request: request.recipient_id is None)
    message = fields.String(allow_none=True)
    status = fields.String()
    responder_id = fields.UUID(allow_none=True)
    hug_id = fields.UUID(allow_none=True)
    answered_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class GroupHugCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(allow_none=True, validate=MESSAGE)
    message = fields.String(allow_none=True, validate=MESSAGE)
    participant_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=MAX_PARTICIPANTS))
    expires_at = UtcAwareDateTime(allow_none=True)

    @validates("name")
    def _name(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Must not be blank.")

    @validates("participant_ids")
    def _distinct(self, value: list[Any], **_: Any) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("Each participant may appear only once.")

    @validates("expires_at")
    def _window(self, value: datetime | None, **_: Any) -> None:
        if value is None:
            return
        now = datetime.now(UTC)
        if value <= now:
            raise ValidationError("Must be in the future.")
        if value > now + MAX_GROUP_LIFETIME:
            raise ValidationError("Must be at most 30 days from now.")

    @post_load
    def _clean(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["name"] = data["name"].strip()
        return data


class GroupHugListArgs(PageArgs):
    """The caller's group hugs take only the paging parameters."""


class Participant(Schema):
    user_id = fields.UUID()
    joined_at = UtcDateTime(allow_none=True)


class GroupHug(Schema):
    id = fields.UUID()
    name = fields.String()
    description = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    creator_id = fields.UUID()
    participants = fields.List(fields.Nested(Participant))
    status = fields.String()
    expires_at = UtcDateTime()
    completed_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
