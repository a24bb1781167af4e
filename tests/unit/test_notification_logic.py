"""Notification logic without a database: quiet hours, preferences, schemas, messages, error mapping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError

from services.notification import schemas
from services.notification.models import TYPES, Delivery
from services.notification.service import delivery, inbox, messages, preferences
from services.notification.service.providers import (
    DeliveryFailed,
    InvalidToken,
    PermanentFailure,
    apns_raise_for,
    fcm_raise_for,
)
from shared.errors import ValidationFailed
from shared.pagination import encode_cursor

NIGHT = {"start": "22:00", "end": "07:00"}
DAY = {"start": "09:00", "end": "17:30"}


def utc(hour: int, minute: int = 0, day: int = 22) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "quiet", "expected"),
    [
        (utc(23), NIGHT, utc(7, day=23)),  # before midnight: ends tomorrow
        (utc(3), NIGHT, utc(7)),  # after midnight: ends today
        (utc(22), NIGHT, utc(7, day=23)),  # the start is inside
        (utc(7), NIGHT, None),  # the end is outside
        (utc(12), NIGHT, None),
        (utc(10), DAY, utc(17, 30)),
        (utc(8, 59), DAY, None),
        (utc(17, 30), DAY, None),
        (utc(12), None, None),
    ],
)
def test_quiet_until_in_utc(now, quiet, expected):
    assert preferences.quiet_until(now, quiet, "UTC") == expected


def test_quiet_hours_are_local_wall_clock_times():
    # 13:00 UTC is 22:00 in Tokyo (UTC+9): quiet until 07:00 Tokyo = 22:00 UTC.
    assert preferences.quiet_until(utc(13), NIGHT, "Asia/Tokyo") == utc(22)
    assert preferences.quiet_until(utc(12), NIGHT, "Asia/Tokyo") is None


def test_an_unknown_zone_reads_as_utc():
    assert preferences.quiet_until(utc(23), NIGHT, "Mars/Olympus") == utc(7, day=23)


def test_merged_preferences_apply_stored_changes_over_defaults():
    class Stored:
        types = {"hug_received": {"push": False}, "gone_type": {"push": False}}
        quiet_hours = NIGHT

    result = preferences.merged(Stored())
    assert result["types"]["hug_received"] == {"in_app": True, "push": False, "email": False}
    assert "gone_type" not in result["types"] and result["quiet_hours"] == NIGHT
    assert preferences.merged(None) == preferences.defaults()
    assert preferences.defaults()["types"]["password_reset"] == {"in_app": True, "push": False, "email": True}


@pytest.mark.parametrize(
    "body",
    [
        {"types": {"hug_received": {"push": 1}}},
        {"types": {"x": {}}},
        {"quiet_hours": {"start": "10:00", "end": "10:00"}},
        {"quiet_hours": {"start": "10:60", "end": "11:00"}},
        {"extra": True},
    ],
)
def test_preferences_update_rejects(body):
    with pytest.raises(ValidationError):
        schemas.PreferencesUpdate().load(body)


def test_preferences_update_accepts_parts_and_null_quiet_hours():
    schema = schemas.PreferencesUpdate()
    assert schema.load({"quiet_hours": None}) == {"quiet_hours": None}
    assert schema.load({"types": {"streak_milestone": {"email": True}}}) == {
        "types": {"streak_milestone": {"email": True}}
    }
    assert schema.load({"quiet_hours": {"start": "23:59", "end": "00:00"}})["quiet_hours"]["end"] == "00:00"


def test_poll_args_bounds():
    schema = schemas.PollArgs()
    assert schema.load({}) == {"cursor": None, "timeout": 30}
    assert schema.load({"timeout": "60"})["timeout"] == 60
    for bad in ("0", "61", "x", "-1"):
        with pytest.raises(ValidationError):
            schema.load({"timeout": bad})


def test_cursors_are_opaque_sequence_numbers():
    assert inbox.seq_from_cursor(encode_cursor(42)) == 42
    for bad in ("garbage", encode_cursor("-3"), encode_cursor("1e5"), encode_cursor(1, 2), encode_cursor("9" * 30)):
        with pytest.raises(ValidationFailed):
            inbox.seq_from_cursor(bad)


def test_password_reset_token_goes_only_in_the_email():
    user = str(uuid.uuid4())
    token = "tok/with+chars"
    (draft,) = messages.password_reset(
        {"user_id": user, "email": "a@example.com", "token": token, "expires_at": "2026-11-22T02:00:00Z"},
        "https://hugmood.app/reset?token=",
    )
    assert token not in f"{draft.title} {draft.body} {draft.data}"
    assert draft.email is not None and draft.email.to == "a@example.com"
    assert "https://hugmood.app/reset?token=tok%2Fwith%2Bchars" in draft.email.body and token in draft.email.body


def test_email_verification_token_goes_only_in_the_email_to_the_address_being_verified():
    user = str(uuid.uuid4())
    (draft,) = messages.email_verification(
        {"user_id": user, "email": "new@example.com", "token": "tok/en", "expires_at": "2026-11-22T02:00:00Z"},
        "https://hugmood.app/verify?token=",
    )
    assert draft.type == "email_verification" and "tok/en" not in f"{draft.title} {draft.body} {draft.data}"
    assert draft.email is not None and draft.email.to == "new@example.com"
    assert "https://hugmood.app/verify?token=tok%2Fen" in draft.email.body
    assert preferences.defaults()["types"]["email_verification"]["email"] is True


def test_messages_carry_ids_and_skip_community_requests():
    (draft,) = messages.hug_sent(
        {"hug_id": "h", "sender_id": "s", "recipient_id": str(uuid.uuid4()), "type": "bear", "type_label": "bear hug"}
    )
    assert draft.type == "hug_received" and draft.data["hug_id"] == "h" and draft.data["sender_id"] == "s"
    assert messages.hug_requested({"hug_request_id": "r", "requester_id": "q", "recipient_id": None}) == []


def test_every_other_type_has_an_email_that_says_no_more_than_the_notification():
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    drafts = [
        *messages.hug_sent(
            {"hug_id": other, "sender_id": other, "recipient_id": user, "type_label": "bear hug", "message": "hi you"}
        ),
        *messages.hug_requested({"hug_request_id": other, "requester_id": other, "recipient_id": user, "message": "m"}),
        *messages.group_hug_created(
            {
                "group_hug_id": other,
                "creator_id": other,
                "participant_ids": [other, user],
                "name": "n",
                "expires_at": None,
            }
        ),
        *messages.friend_requested({"requester_id": other, "addressee_id": user}),
        *messages.friendship_accepted({"user_id": user, "friend_id": other}),
        *messages.streak_milestone({"user_id": user, "days": 7, "streak_start": other}),
    ]
    assert {draft.type for draft in drafts} == set(TYPES) - {"password_reset", "email_verification"}
    for draft in drafts:
        email = draft.email
        assert email is not None and email.to is None  # the address is looked up when it is sent
        assert email.subject == f"HugMood: {draft.title}"
        assert email.body.startswith(f"{draft.body}\n\n")
        rest = email.body[len(draft.body) :]
        assert other not in rest and not any(str(value) in rest for value in draft.data.values() if value)  # no ids


def test_scrub_keeps_only_address_and_subject_of_a_reset_email():
    row = Delivery(channel="email", type="password_reset", payload={"to": "a@x", "subject": "S", "body": "token"})
    delivery._scrub(row)
    assert row.payload == {"to": "a@x", "subject": "S"}
    verify = Delivery(channel="email", type="email_verification", payload={"to": "a@x", "subject": "S", "body": "t"})
    delivery._scrub(verify)
    assert verify.payload == {"to": "a@x", "subject": "S"}
    other = Delivery(channel="email", type="hug_received", payload={"to": "a@x", "subject": "S", "body": "b"})
    delivery._scrub(other)
    assert other.payload["body"] == "b"


def test_backoff_doubles_and_stays_within_a_minute():
    assert [delivery.backoff(n) for n in range(1, 9)] == [2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.parametrize(
    ("status", "text", "error"),
    [
        (200, "{}", None),
        (404, '{"error": {"status": "NOT_FOUND"}}', InvalidToken),
        (400, '{"error": {"details": [{"errorCode": "UNREGISTERED"}]}}', InvalidToken),
        (502, "<html>", DeliveryFailed),
        (400, '{"error": {"status": "FAILED_PRECONDITION"}}', PermanentFailure),
    ],
)
def test_fcm_error_mapping(status, text, error):
    if error is None:
        fcm_raise_for(status, text)
    else:
        with pytest.raises(error):
            fcm_raise_for(status, text)


@pytest.mark.parametrize(
    ("status", "text", "error"),
    [
        (200, "", None),
        (410, '{"reason": "Unregistered"}', InvalidToken),
        (400, '{"reason": "BadDeviceToken"}', InvalidToken),
        (500, "not json", DeliveryFailed),
        (413, '{"reason": "PayloadTooLarge"}', PermanentFailure),
    ],
)
def test_apns_error_mapping(status, text, error):
    if error is None:
        apns_raise_for(status, text)
    else:
        with pytest.raises(error):
            apns_raise_for(status, text)
