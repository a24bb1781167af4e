"""Request and response shapes of the user service."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, validate, validates

from services.user.models import ALLOW_HUGS, SHARE_MOODS
from shared.api import StrictBoolean, UtcDateTime
from shared.pagination import PageArgs


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    # "localtime" is the host's own zone file, not an IANA name: its meaning depends on the machine.
    return frozenset(available_timezones()) - {"localtime"}


def check_timezone(value: str) -> None:
    if value not in iana_zones():
        raise ValidationError("Not an IANA time zone name (e.g. Europe/Paris).")


def check_http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValidationError("Must be an http(s) URL.")


class ProfileUpdate(Schema):
    display_name = fields.String(validate=validate.Length(min=1, max=100))
    bio = fields.String(allow_none=True, validate=validate.Length(max=500))
    avatar_url = fields.String(allow_none=True, validate=[validate.Length(max=2048), check_http_url])
    location = fields.String(allow_none=True, validate=validate.Length(max=100))
    timezone = fields.String(validate=check_timezone)

    @validates("display_name")
    def _not_blank(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Must not be blank.")


class ProfileOut(Schema):
    user_id = fields.UUID()
    username = fields.String()
    display_name = fields.String()
    bio = fields.String(allow_none=True)
    avatar_url = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    timezone = fields.String()
    last_active = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PrivacyIn(Schema):
    share_moods_with = fields.String(validate=validate.OneOf(SHARE_MOODS))
    allow_friend_requests = StrictBoolean()
    show_online_status = StrictBoolean()
    allow_hugs_from = fields.String(validate=validate.OneOf(ALLOW_HUGS))


class PrivacyOut(Schema):
    share_moods_with = fields.String()
    allow_friend_requests = fields.Boolean()
    show_online_status = fields.Boolean()
    allow_hugs_from = fields.String()


class PrivacyExport(PrivacyOut):
    """The owner's privacy settings in their data export: with when they last changed them."""

    updated_at = UtcDateTime()


class FriendsArgs(PageArgs):
    status = fields.String(load_default="accepted", validate=validate.OneOf(("accepted", "pending", "blocked")))


class FriendAnswer(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("accepted", "declined", "blocked")))


MAX_BATCH_IDS = 100


def _split_ids(value: str) -> None:
    ids = value.split(",")
    if len(ids) > MAX_BATCH_IDS:
        raise ValidationError(f"At most {MAX_BATCH_IDS} ids.")
    bad = [part for part in ids if not _is_uuid(part)]
    if bad:
        raise ValidationError(f"Not a user id: {bad[0][:40]!r}.")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class BatchArgs(Schema):
    """`?ids=a,b,c`: comma-separated user ids, 1 to MAX_BATCH_IDS of them."""

    ids = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_BATCH_IDS * 37), _split_ids])


class SearchArgs(PageArgs):
    q = fields.String(required=True, validate=validate.Length(min=1, max=100))


class FriendOut(Schema):
    """One entry of a friends list: who, the state of the relation, and since when."""

    user_id = fields.UUID()
    username = fields.String()
    display_name = fields.String()
    avatar_url = fields.String(allow_none=True)
    status = fields.String()
    direction = fields.String(allow_none=True)
    since = UtcDateTime()


class Relation(Schema):
    """The other side of one of the owner's relations in their data export, and since when."""

    user_id = fields.UUID()
    username = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    since = UtcDateTime()


class UserSummary(Schema):
    user_id = fields.UUID()
    username = fields.String()
    display_name = fields.String()
    avatar_url = fields.String(allow_none=True)


class FriendRequestIn(Schema):
    """A friend request carries no body; anything sent must be empty."""


class FriendStatus(Schema):
    """Where the caller stands with another user after a request or an answer."""

    user_id = fields.UUID()
    status = fields.String()


class ProfileBatch(Schema):
    items = fields.List(fields.Nested(ProfileOut))
    missing = fields.List(fields.UUID())
