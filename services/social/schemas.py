"""Request and response shapes of the social service."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from shared.api import QueryInteger, UtcDateTime
from shared.pagination import PageArgs

VISIBILITIES = ("public", "friends", "private")
# Made only from other services' events: a client cannot claim a hug or a milestone it never had.
EVENT_TYPES = frozenset({"mood_shared", "hug_sent", "streak_milestone", "new_friend"})
SHARE_CONTENT_TYPES = ("mood", "hug", "achievement")
MAX_DATA_BYTES = 4096
MAX_DATA_KEYS = 20


class ActivityCreate(Schema):
    type = fields.String(required=True, validate=validate.Regexp(r"\A[a-z_]{1,50}\Z"))
    object_id = fields.UUID(allow_none=True)
    data = fields.Dict(keys=fields.String(), load_default=dict)
    visibility = fields.String(required=True, validate=validate.OneOf(VISIBILITIES))

    @validates("type")
    def _not_reserved(self, value: str, **_: Any) -> None:
        if value in EVENT_TYPES:
            raise ValidationError("This type is recorded by the service itself.")

    @validates("data")
    def _small(self, value: dict[str, Any], **_: Any) -> None:
        if len(value) > MAX_DATA_KEYS:
            raise ValidationError(f"At most {MAX_DATA_KEYS} keys.")
        if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_DATA_BYTES:
            raise ValidationError(f"At most {MAX_DATA_BYTES} bytes once serialized.")


class ShareCreate(Schema):
    content_type = fields.String(required=True, validate=validate.OneOf(SHARE_CONTENT_TYPES))
    content_id = fields.UUID(required=True)
    platform = fields.String(required=True, validate=validate.Regexp(r"\A[a-z0-9_-]{1,32}\Z"))


class Share(Schema):
    id = fields.UUID()
    share_url = fields.String()
    content_type = fields.String()
    content_id = fields.UUID()
    platform = fields.String()
    created_at = UtcDateTime()


class OwnShare(Share):
    """A share in its owner's data export, revoked ones included."""

    revoked_at = UtcDateTime(allow_none=True)


class Relation(Schema):
    """One edge of the caller's part of the graph, in their data export: the other user and since when."""

    user_id = fields.UUID()
    since = UtcDateTime()


class Activity(Schema):
    id = fields.UUID()
    user_id = fields.UUID()
    type = fields.String()
    object_id = fields.UUID(allow_none=True)
    data = fields.Dict()
    visibility = fields.String()
    created_at = UtcDateTime()


class FeedArgs(PageArgs):
    """`?limit=&cursor=`."""


class RecommendationArgs(Schema):
    limit = QueryInteger(load_default=10, validate=validate.Range(min=1, max=50))


class Recommendation(Schema):
    user_id = fields.UUID()
    mutual_friends = fields.Integer()


class Recommendations(Schema):
    items = fields.List(fields.Nested(Recommendation))
