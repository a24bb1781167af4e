"""Profiles and privacy settings: created from UserRegistered (or on first sight), read, changed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from services.user import errors
from services.user.models import OutboxEvent, Privacy, Profile, db
from shared.clock import utcnow
from shared.conditional import Precondition
from shared.errors import ServiceUnavailable
from shared.events import publish
from shared.http import ServiceClient

T = TypeVar("T")
AuthLookup = Callable[[uuid.UUID], dict[str, Any] | None]
LAST_ACTIVE_EVERY_SECONDS = 60


def auth_lookup_via(client: ServiceClient) -> AuthLookup:
    """Ask the auth service who a user id is (None: no such account)."""

    def lookup(user_id: uuid.UUID) -> dict[str, Any] | None:
        response = client.get("auth", f"/internal/v1/auth/users/{user_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceUnavailable("The auth service could not confirm this user.", code="upstream.unavailable")
        return response.json()

    return lookup


def create_profile(*, user_id: uuid.UUID, username: str, display_name: str) -> None:
    """Create the profile and default privacy of a new user.

    A second call changes nothing, except that a profile built on first sight (before
    UserRegistered arrived, named by its username) and not edited since takes the display name
    chosen at registration.
    """
    row = insert(Profile).values(user_id=user_id, username=username, display_name=display_name, timezone="UTC")
    db.session.execute(
        row.on_conflict_do_update(
            index_elements=[Profile.user_id],
            set_={"display_name": row.excluded.display_name},
            where=(Profile.display_name == Profile.username) & (Profile.updated_at == Profile.created_at),
        )
    )
    db.session.execute(insert(Privacy).values(user_id=user_id).on_conflict_do_nothing())


def _get(model: type[T], user_id: uuid.UUID, lock: bool) -> T | None:
    """A row by user id; `lock`: FOR UPDATE, read afresh (a writer's If-Match is checked on it)."""
    if lock:
        return db.session.get(model, user_id, with_for_update=True, populate_existing=True)
    return db.session.get(model, user_id)


def get_profile(user_id: uuid.UUID, *, auth_lookup: AuthLookup, lock: bool = False) -> Profile:
    """The profile; if UserRegistered has not arrived yet, built now from the auth service."""
    profile = _get(Profile, user_id, lock)
    if profile is not None:
        return profile
    account = auth_lookup(user_id)
    if account is None:
        raise errors.UserNotFound()
    create_profile(user_id=user_id, username=account["username"], display_name=account["username"])
    db.session.commit()
    return _get(Profile, user_id, lock)


def get_profiles(user_ids: list[uuid.UUID], *, auth_lookup: AuthLookup) -> tuple[list[Profile], list[uuid.UUID]]:
    """The profiles of these users in one query, in the order asked, and the ids no user has.

    An id without a profile row yet (its UserRegistered not consumed) is built from the auth
    service as get_profile does."""
    found = {p.user_id: p for p in db.session.scalars(select(Profile).where(Profile.user_id.in_(user_ids)))}
    profiles, missing = [], []
    for user_id in user_ids:
        profile = found.get(user_id)
        if profile is None:
            try:
                profile = get_profile(user_id, auth_lookup=auth_lookup)
            except errors.UserNotFound:
                missing.append(user_id)
                continue
        profiles.append(profile)
    return profiles, missing


def profile_views(profiles: list[Profile], *, viewer_id: uuid.UUID) -> list[dict[str, Any]]:
    """profile_view of several profiles, their privacy read in one query."""
    ids = [p.user_id for p in profiles]
    privacy = {p.user_id: p for p in db.session.scalars(select(Privacy).where(Privacy.user_id.in_(ids)))} if ids else {}
    return [_view(profile, privacy.get(profile.user_id), viewer_id) for profile in profiles]


def get_privacy(user_id: uuid.UUID, *, auth_lookup: AuthLookup, lock: bool = False) -> Privacy:
    get_profile(user_id, auth_lookup=auth_lookup)
    return _get(Privacy, user_id, lock)


def profile_view(profile: Profile, *, viewer_id: uuid.UUID) -> dict[str, Any]:
    """The profile as `viewer_id` may see it: last_active only if the owner shows online status."""
    return _view(profile, db.session.get(Privacy, profile.user_id), viewer_id)


def _view(profile: Profile, privacy: Privacy | None, viewer_id: uuid.UUID) -> dict[str, Any]:
    view = {column.key: getattr(profile, column.key) for column in Profile.__table__.columns}
    if privacy is not None and not privacy.show_online_status and viewer_id != profile.user_id:
        view["last_active"] = None
    return view


def update_profile(
    *,
    user_id: uuid.UUID,
    caller_id: uuid.UUID,
    caller_is_admin: bool,
    data: dict[str, Any],
    auth_lookup: AuthLookup,
    precondition: Precondition[Profile] = None,
) -> Profile:
    """Partial update by the owner or an admin; `precondition` (If-Match) checked on the locked row."""
    if caller_id != user_id and not caller_is_admin:
        raise errors.NotYourProfile("Only the owner or an admin may change this profile.")
    profile = get_profile(user_id, auth_lookup=auth_lookup, lock=True)
    if precondition is not None:
        precondition(profile)
    for field, value in data.items():
        setattr(profile, field, value.strip() if field == "display_name" else value)
    profile.updated_at = utcnow()
    db.session.commit()
    return profile


def update_privacy(
    *, user_id: uuid.UUID, data: dict[str, Any], auth_lookup: AuthLookup, precondition: Precondition[Privacy] = None
) -> Privacy:
    """Change the owner's settings; `precondition` (If-Match) checked on the locked row."""
    privacy = get_privacy(user_id, auth_lookup=auth_lookup, lock=True)
    if precondition is not None:
        precondition(privacy)
    for field, value in data.items():
        setattr(privacy, field, value)
    privacy.updated_at = utcnow()
    publish(db.session, OutboxEvent, "PrivacyChanged", {"user_id": str(user_id)})
    db.session.commit()
    return privacy


def touch_last_active(*, user_id: uuid.UUID, client: redis.Redis) -> None:
    """Record activity at most once a minute per user (a Redis key is the throttle)."""
    try:
        if not client.set(f"hm:user:active:{user_id}", 1, nx=True, ex=LAST_ACTIVE_EVERY_SECONDS):
            return
    except redis.RedisError:
        return
    db.session.execute(text("UPDATE users.profiles SET last_active = now() WHERE user_id = :u"), {"u": user_id})
    db.session.commit()
