"""Activities derived from moods: public moods mirrored, and streak milestones of public entries,
both visible as the owner's share_moods_with allows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update

from services.social.models import Activity, db
from services.social.service.activities import record_event_activity
from shared.http import ServiceClient

MOOD_ACTIVITY = "mood_shared"
MILESTONE_ACTIVITY = "streak_milestone"
_VISIBILITY = {"public": "public", "friends": "friends"}


def owner_settings(client: ServiceClient, owner_id: uuid.UUID) -> dict[str, Any] | None:
    """The owner's privacy settings now (None: no such user).

    Asked of the user service at consume time; any failure raises, so the consumer is retried.
    """
    return client.read("user", f"/internal/v1/users/{owner_id}/audience/{owner_id}")


def shared_visibility(settings: dict[str, Any] | None) -> str | None:
    """The visibility the owner's shared moods get under these settings (None: they share with no one)."""
    return None if settings is None else _VISIBILITY.get(settings["share_moods_with"])


def mood_shared_visibility(client: ServiceClient, owner_id: uuid.UUID) -> str | None:
    """The visibility the owner's shared moods get now; any failure raises (the consumer is retried)."""
    return shared_visibility(owner_settings(client, owner_id))


def mood_is_public_now(client: ServiceClient, owner_id: uuid.UUID, mood_id: uuid.UUID) -> bool:
    """Whether the mood exists, belongs to `owner_id` and is public, as the mood service says now.

    Mood events can be consumed out of order (a retry, a redelivery): acting on the current state
    instead of the event's keeps a late `MoodRecorded` from reviving a mood since deleted or made
    private. Any failure raises, so the consumer is retried.
    """
    entry = client.read("mood", f"/internal/v1/moods/{mood_id}/shareable")
    return entry is not None and entry["owner_id"] == str(owner_id) and bool(entry["is_public"])


def _of_mood(user_id: uuid.UUID, mood_id: uuid.UUID) -> list[Activity]:
    query = select(Activity).where(
        Activity.type == MOOD_ACTIVITY, Activity.user_id == user_id, Activity.object_id == mood_id
    )
    return list(db.session.execute(query).scalars())


def sync_mood(
    *, event_id: uuid.UUID, user_id: uuid.UUID, mood_id: uuid.UUID, is_public: bool, visibility: str | None
) -> None:
    """Create, update or remove the mood's activity to match is_public and the owner's setting."""
    existing = _of_mood(user_id, mood_id)
    if not is_public or visibility is None:
        delete_mood(user_id=user_id, mood_id=mood_id)
    elif existing:
        for activity in existing:
            activity.visibility = visibility
    else:
        # Ids only: a mood's note and label never leave the mood service.
        record_event_activity(
            source_event_id=event_id,
            user_id=user_id,
            type=MOOD_ACTIVITY,
            visibility=visibility,
            object_id=mood_id,
            data={"mood_id": str(mood_id)},
        )


def delete_mood(*, user_id: uuid.UUID, mood_id: uuid.UUID) -> None:
    db.session.execute(
        delete(Activity).where(
            Activity.type == MOOD_ACTIVITY, Activity.user_id == user_id, Activity.object_id == mood_id
        )
    )


def milestone_visibility(visibility: str | None) -> str:
    """Milestones are announced to friends only, and to no one while the owner shares moods with no one."""
    return "friends" if visibility else "private"


def record_milestone(*, event_id: uuid.UUID, user_id: uuid.UUID, days: int, visibility: str | None) -> None:
    """The activity of a streak milestone reached over public entries (caller commits)."""
    record_event_activity(
        source_event_id=event_id,
        user_id=user_id,
        type=MILESTONE_ACTIVITY,
        visibility=milestone_visibility(visibility),
        data={"days": days},
    )


def reshare_moods(*, user_id: uuid.UUID, visibility: str | None) -> None:
    """Re-derive the visibility of the user's mood and milestone activities; sharing with no one
    makes them private."""
    db.session.execute(
        update(Activity)
        .where(Activity.type == MOOD_ACTIVITY, Activity.user_id == user_id)
        .values(visibility=visibility or "private")
    )
    db.session.execute(
        update(Activity)
        .where(Activity.type == MILESTONE_ACTIVITY, Activity.user_id == user_id)
        .values(visibility=milestone_visibility(visibility))
    )
