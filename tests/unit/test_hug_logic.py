"""Hug service pure logic: the hug rule, the flood lock key, group status, schemas, settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import ValidationError

from services.hug import schemas
from services.hug.app import SETTINGS
from services.hug.models import GroupHug
from services.hug.service import HUG_TYPES, TYPE_NAMES, admits_hugs, effective_status, hug_types, pair_lock_key
from shared.config import ConfigError, load_config


def audience(allow: str, friends: bool = False, blocked: bool = False) -> dict:
    return {"allow_hugs_from": allow, "friends": friends, "blocked": blocked}


@pytest.mark.parametrize(
    "settings,admitted",
    [
        (audience("anyone"), True),
        (audience("anyone", blocked=True), False),
        (audience("friends"), False),
        (audience("friends", friends=True), True),
        (audience("friends", friends=True, blocked=True), False),
        (audience("none", friends=True), False),
    ],
)
def test_who_may_send_a_hug(settings, admitted):
    assert admits_hugs(settings) is admitted


def test_pair_lock_key_is_stable_directional_and_64_bit():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert pair_lock_key(a, b) == pair_lock_key(a, b)
    assert pair_lock_key(a, b) != pair_lock_key(b, a)
    assert -(2**63) <= pair_lock_key(a, b) < 2**63


def test_catalogue_has_five_distinct_types_with_text():
    assert len(HUG_TYPES) >= 5 and len(set(TYPE_NAMES)) == len(TYPE_NAMES)
    assert all(t["label"] and t["description"] for t in hug_types())


def test_active_group_hug_past_expiry_reads_expired():
    now = datetime.now(UTC)
    group = GroupHug(status="active", expires_at=now - timedelta(seconds=1))
    assert effective_status(group, now) == "expired"
    group.expires_at = now + timedelta(hours=1)
    assert effective_status(group, now) == "active"
    group.status, group.expires_at = "completed", now - timedelta(days=1)
    assert effective_status(group, now) == "completed"


def test_group_create_schema_trims_name_and_checks_the_window():
    one = str(uuid.uuid4())
    data = schemas.GroupHugCreate().load({"name": "  hug  ", "participant_ids": [one]})
    assert data["name"] == "hug" and data["participant_ids"] == [uuid.UUID(one)]
    soon = (datetime.now(UTC) + timedelta(days=30) - timedelta(minutes=1)).isoformat()
    assert schemas.GroupHugCreate().load({"name": "x", "participant_ids": [one], "expires_at": soon})["expires_at"]
    naive_past = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    with pytest.raises(ValidationError) as raised:
        schemas.GroupHugCreate().load({"name": "x", "participant_ids": [one], "expires_at": naive_past})
    assert "expires_at" in raised.value.messages


@pytest.mark.parametrize("raw,value", [("true", True), ("false", False)])
def test_query_boolean_takes_only_true_and_false(raw, value):
    assert schemas.ReceivedArgs().load({"unread": raw})["unread"] is value


@pytest.mark.parametrize("raw", ["1", "yes", "True", "on", ""])
def test_query_boolean_refuses_anything_else(raw):
    with pytest.raises(ValidationError):
        schemas.ReceivedArgs().load({"unread": raw})


def test_flood_settings_defaults_and_validation():
    base = {"DATABASE_URL": "postgresql://localhost/x", "HUGMOOD_ENV": "development"}
    config = load_config("hug", base, SETTINGS)
    assert config.HUG_FLOOD_LIMIT == 10 and config.HUG_FLOOD_WINDOW_SECONDS == 600
    with pytest.raises(ConfigError) as raised:
        load_config("hug", {**base, "HUG_FLOOD_LIMIT": "0", "HUG_FLOOD_WINDOW_SECONDS": "soon"}, SETTINGS)
    assert "HUG_FLOOD_LIMIT" in str(raised.value) and "HUG_FLOOD_WINDOW_SECONDS" in str(raised.value)
