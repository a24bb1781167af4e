"""Celery consumers of the social service: thin, idempotent shells over service.py.

The friend graph, blocks and pending requests are local copies fed here, so a feed read never
calls the user service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.social import service
from services.social.app import create_app
from services.social.models import USER_DATA, ProcessedEvent, db
from shared.datarights import subscribe_erasure
from shared.events import claim_once, lazy_app, registry

app = lazy_app(create_app)


def _at(event: dict[str, Any]) -> datetime:
    raw = event.get("occurred_at")
    return datetime.fromisoformat(raw) if raw else datetime.now(UTC)


def _ids(data: dict[str, Any], *keys: str) -> list[uuid.UUID]:
    return [uuid.UUID(data[k]) for k in keys]


def _once(event: dict[str, Any], consumer: str, effect: Callable[[], None]) -> None:
    """Apply `effect` and claim the event in one transaction; a second delivery does nothing."""
    with app().app_context():
        if claim_once(db.session, ProcessedEvent, event["id"], consumer):
            effect()
        db.session.commit()


@registry.subscribe("FriendshipAccepted", "social.graph")
def on_friendship_accepted(event: dict[str, Any]) -> None:
    """Add the friendship both ways, drop the request, and a "new_friend" activity for each."""
    user_id, friend_id = _ids(event["data"], "user_id", "friend_id")
    _once(
        event,
        "social.graph",
        lambda: service.accept_friendship(
            event_id=uuid.UUID(event["id"]), user_id=user_id, friend_id=friend_id, at=_at(event)
        ),
    )


@registry.subscribe("FriendshipEnded", "social.graph")
def on_friendship_ended(event: dict[str, Any]) -> None:
    """Remove the friendship both ways."""
    user_id, other_id = _ids(event["data"], "user_id", "other_id")
    _once(event, "social.graph", lambda: service.end_friendship(user_id=user_id, other_id=other_id, at=_at(event)))


@registry.subscribe("UserBlocked", "social.graph")
def on_user_blocked(event: dict[str, Any]) -> None:
    """Add the block; the friendship and requests between the two end."""
    blocker, blocked = _ids(event["data"], "blocker_id", "blocked_id")
    _once(event, "social.graph", lambda: service.block(blocker_id=blocker, blocked_id=blocked, at=_at(event)))


@registry.subscribe("UserUnblocked", "social.graph")
def on_user_unblocked(event: dict[str, Any]) -> None:
    """Remove the block."""
    blocker, blocked = _ids(event["data"], "blocker_id", "blocked_id")
    _once(event, "social.graph", lambda: service.unblock(blocker_id=blocker, blocked_id=blocked, at=_at(event)))


@registry.subscribe("FriendRequested", "social.graph")
def on_friend_requested(event: dict[str, Any]) -> None:
    """Add the pending request."""
    requester, addressee = _ids(event["data"], "requester_id", "addressee_id")
    _once(
        event,
        "social.graph",
        lambda: service.request_friendship(requester_id=requester, addressee_id=addressee, at=_at(event)),
    )


@registry.subscribe("FriendRequestClosed", "social.graph")
def on_friend_request_closed(event: dict[str, Any]) -> None:
    """Drop a declined or withdrawn request."""
    requester, addressee = _ids(event["data"], "requester_id", "addressee_id")
    _once(
        event,
        "social.graph",
        lambda: service.close_request(requester_id=requester, addressee_id=addressee, at=_at(event)),
    )


@registry.subscribe("MoodRecorded", "social.moods")
@registry.subscribe("MoodUpdated", "social.moods")
def on_mood_written(event: dict[str, Any]) -> None:
    """Mirror a public mood as a "mood_shared" activity, visible as the owner shares moods; the
    mood's current state decides, not the event's (events may arrive out of order)."""
    data = event["data"]
    user_id, mood_id = _ids(data, "user_id", "mood_id")
    flask_app = app()
    with flask_app.app_context():
        # Asked before the transaction: a failure raises and Celery retries the whole consumer.
        client = flask_app.extensions["service_client"]
        is_public = bool(data["is_public"]) and service.mood_is_public_now(client, user_id, mood_id)
        visibility = service.mood_shared_visibility(client, user_id) if is_public else None
        if claim_once(db.session, ProcessedEvent, event["id"], "social.moods"):
            service.sync_mood(
                event_id=uuid.UUID(event["id"]),
                user_id=user_id,
                mood_id=mood_id,
                is_public=is_public,
                visibility=visibility,
            )
        db.session.commit()


@registry.subscribe("MoodDeleted", "social.moods")
def on_mood_deleted(event: dict[str, Any]) -> None:
    """Remove the mood's activity."""
    user_id, mood_id = _ids(event["data"], "user_id", "mood_id")
    _once(event, "social.moods", lambda: service.delete_mood(user_id=user_id, mood_id=mood_id))


@registry.subscribe("PrivacyChanged", "social.moods")
def on_privacy_changed(event: dict[str, Any]) -> None:
    """Re-derive the visibility of the user's mood and milestone activities, and whether they are
    recommended (only if they take friend requests), from their current settings."""
    (user_id,) = _ids(event["data"], "user_id")
    flask_app = app()
    with flask_app.app_context():
        settings = service.owner_settings(flask_app.extensions["service_client"], user_id)
        if claim_once(db.session, ProcessedEvent, event["id"], "social.moods"):
            service.reshare_moods(user_id=user_id, visibility=service.shared_visibility(settings))
            if settings is not None:
                service.take_friend_requests(user_id=user_id, allowed=bool(settings["allow_friend_requests"]))
        db.session.commit()


@registry.subscribe("HugSent", "social.activities")
def on_hug_sent(event: dict[str, Any]) -> None:
    """A private "hug_sent" activity for the sender (no recipient, no message)."""
    hug_id, sender_id = _ids(event["data"], "hug_id", "sender_id")
    _once(
        event,
        "social.activities",
        lambda: service.record_event_activity(
            source_event_id=uuid.UUID(event["id"]),
            user_id=sender_id,
            type="hug_sent",
            visibility="private",
            object_id=hug_id,
        ),
    )


@registry.subscribe("StreakMilestone", "social.activities")
def on_streak_milestone(event: dict[str, Any]) -> None:
    """A friends-only "streak_milestone" activity with the number of days, for a streak of public
    entries only (others see streaks of visible entries only); private while the owner shares
    moods with no one."""
    data = event["data"]
    if not data.get("public_entries"):
        return
    (user_id,) = _ids(data, "user_id")
    flask_app = app()
    with flask_app.app_context():
        # Asked before the transaction: a failure raises and Celery retries the whole consumer.
        visibility = service.mood_shared_visibility(flask_app.extensions["service_client"], user_id)
        if claim_once(db.session, ProcessedEvent, event["id"], "social.activities"):
            service.record_milestone(
                event_id=uuid.UUID(event["id"]), user_id=user_id, days=int(data["days"]), visibility=visibility
            )
        db.session.commit()


on_user_deleted = subscribe_erasure("social", app, db, ProcessedEvent, USER_DATA)
