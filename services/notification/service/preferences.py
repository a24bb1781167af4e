"""Per-type channel choices, quiet hours, and the owner's time zone they are read in."""

from __future__ import annotations

import copy
import logging
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
from sqlalchemy.dialects.postgresql import insert

from services.notification.models import TYPES, Preference, db
from shared.conditional import Precondition
from shared.db import PreparedStatement
from shared.errors import ServiceUnavailable
from shared.http import ReadThroughCache, ServiceClient

log = logging.getLogger("hugmood.notification")

CHANNELS = ("in_app", "push", "email")
DEFAULT_CHANNELS = {"in_app": True, "push": True, "email": False}
TYPE_DEFAULTS = {
    "password_reset": {"in_app": True, "push": False, "email": True},
    # The link is in the email; an in-app copy would only clutter a new user's first inbox.
    "email_verification": {"in_app": False, "push": False, "email": True},
}


def defaults() -> dict[str, Any]:
    """The preferences of a user who never changed them."""
    return {
        "types": {t: dict(TYPE_DEFAULTS.get(t, DEFAULT_CHANNELS)) for t in TYPES},
        "quiet_hours": None,
    }


def merged(stored: Preference | None) -> dict[str, Any]:
    """The defaults with the user's stored changes on top."""
    result = defaults()
    if stored is not None:
        for kind, channels in (stored.types or {}).items():
            if kind in result["types"]:
                result["types"][kind].update({c: v for c, v in channels.items() if c in CHANNELS})
        result["quiet_hours"] = stored.quiet_hours
    return result


def get(user_id: uuid.UUID) -> dict[str, Any]:
    """The user's effective preferences."""
    return merged(db.session.get(Preference, user_id))


_WITH_DEVICES = PreparedStatement(
    "notification_settings",
    "SELECT who.id::text AS user_id, p.types, p.quiet_hours,"
    " ARRAY(SELECT d.id::text FROM devices d WHERE d.user_id = who.id AND d.is_active) AS devices"
    " FROM unnest(:user_ids) AS who(id) LEFT JOIN preferences p ON p.user_id = who.id",
    (("user_ids", "uuid[]"),),
)


def with_active_devices(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[dict[str, Any], list[uuid.UUID]]]:
    """Each user's effective preferences and the ids of their active devices, in one statement
    for all of them (what every new notification needs to know)."""
    array = "{" + ",".join(str(user_id) for user_id in set(user_ids)) + "}"  # a uuid[] literal
    rows = _WITH_DEVICES.execute(db.session, {"user_ids": array})
    settings = {}
    for row in rows:
        stored = None if row.types is None else Preference(types=row.types, quiet_hours=row.quiet_hours)
        settings[uuid.UUID(row.user_id)] = (merged(stored), [uuid.UUID(device) for device in row.devices])
    return settings


def update(
    user_id: uuid.UUID, change: dict[str, Any], precondition: Precondition[dict[str, Any]] = None
) -> dict[str, Any]:
    """Deep-merge `change` (already validated) into the stored preferences; return the result.
    `precondition` (If-Match) is checked on the effective preferences, read from the locked row."""
    db.session.execute(insert(Preference).values(user_id=user_id, types={}).on_conflict_do_nothing())
    # Locked, so two concurrent partial updates merge instead of one overwriting the other.
    stored = db.session.get(Preference, user_id, with_for_update=True, populate_existing=True)
    if precondition is not None:
        precondition(merged(stored))
    types = copy.deepcopy(stored.types or {})
    for kind, channels in change.get("types", {}).items():
        types.setdefault(kind, {}).update(channels)
    stored.types = types
    if "quiet_hours" in change:
        stored.quiet_hours = change["quiet_hours"]
    stored.updated_at = datetime.now(UTC)
    db.session.commit()
    return merged(stored)


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _local(day: Any, at: time, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, at.hour, at.minute, tzinfo=zone)


def quiet_until(now: datetime, quiet_hours: dict[str, str] | None, timezone: str) -> datetime | None:
    """When the quiet period around `now` ends (UTC), or None if `now` is not in quiet hours.

    start/end are local wall-clock times in `timezone`; start > end wraps midnight.
    """
    if not quiet_hours:
        return None
    zone = zone_of(timezone)
    local = now.astimezone(zone)
    start, end, clock = _clock(quiet_hours["start"]), _clock(quiet_hours["end"]), local.time()
    if start < end:
        inside = start <= clock < end
        ends = _local(local.date(), end, zone)
    else:
        inside = clock >= start or clock < end
        day = local.date() if clock < end else local.date() + timedelta(days=1)
        ends = _local(day, end, zone)
    return ends.astimezone(UTC) if inside else None


def zone_of(name: str) -> ZoneInfo:
    """The named zone, or UTC for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class TimezoneSource:
    """A user's IANA time zone from the user service (owner = viewer), cached in Redis.

    A copy is fresh for 5 minutes and served stale for a day when the user service is down; with
    nothing cached (or an unknown user) the zone is UTC, so quiet hours may be off by the
    user's UTC offset during an outage, but a notification is never lost or blocked.
    """

    def __init__(self, client: ServiceClient, cache_client: redis.Redis):
        self.client = client
        self.cache = ReadThroughCache(cache_client, "hm:notification:tz", ttl=300, stale_ttl=86400, serve_stale=True)

    def _fetch(self, user_id: uuid.UUID) -> str | None:
        audience = self.client.read("user", f"/internal/v1/users/{user_id}/audience/{user_id}")
        return None if audience is None else audience["timezone"]

    def get(self, user_id: uuid.UUID) -> str:
        """The user's zone name; UTC when unknown or unreachable with nothing cached."""
        try:
            zone = self.cache.get(str(user_id), lambda: self._fetch(user_id))
        except ServiceUnavailable:
            log.warning("user service unavailable; quiet hours read in UTC", extra={"user_id": str(user_id)})
            return "UTC"
        return zone or "UTC"
