"""Celery tasks of the notification service: event consumers, sending, and the sweep."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError

from services.notification import schemas, service
from services.notification.app import create_app
from services.notification.models import USER_DATA, ProcessedEvent, db
from services.notification.service import Draft
from shared.datarights import subscribe_erasure
from shared.events import lazy_app, registry

log = logging.getLogger("hugmood.notification.tasks")
app = lazy_app(create_app)
_notifications = schemas.Notification(many=True)  # the API's form, for the wake-up's news

DELIVER_TASK = "notification.deliver"
SWEEP_TASK = "notification.sweep_deliveries"
BEAT_SCHEDULE = {SWEEP_TASK: {"task": SWEEP_TASK, "schedule": 15.0}}


def enqueue(delivery_ids: Iterable[uuid.UUID]) -> None:
    """Hand deliveries to the send task; a failure is logged (the sweep enqueues them later)."""
    for delivery_id in delivery_ids:
        try:
            deliver.apply_async(args=(str(delivery_id),), retry=False)
        except Exception:
            log.warning("delivery not enqueued; the sweep will retry", extra={"delivery_id": str(delivery_id)})


def _notify(event: dict[str, Any], consumer: str, drafts: Callable[[dict[str, Any]], list[Draft]]) -> None:
    """Create the event's notifications once (service.inbox.create claims the event id in the same
    statement), then wake their owners' polls and hand the deliveries to the send task."""
    flask_app = app()
    with flask_app.app_context():
        outcome = service.inbox.create(
            drafts(event["data"]),
            event_id=event["id"],
            consumer=consumer,
            timezone_of=flask_app.extensions["notification_timezones"].get,
        )
        service.inbox.wake(flask_app.extensions["redis"], outcome.created, _notifications.dump)
    enqueue(outcome.deliveries)


@registry.subscribe("HugSent", "notification.hug_sent")
def on_hug_sent(event: dict[str, Any]) -> None:
    """Tell the recipient of a hug."""
    _notify(event, "notification.hug_sent", service.messages.hug_sent)


@registry.subscribe("HugRequested", "notification.hug_requested")
def on_hug_requested(event: dict[str, Any]) -> None:
    """Tell the recipient of a direct hug request."""
    _notify(event, "notification.hug_requested", service.messages.hug_requested)


@registry.subscribe("GroupHugCreated", "notification.group_hug_created")
def on_group_hug_created(event: dict[str, Any]) -> None:
    """Invite each participant of a new group hug."""
    _notify(event, "notification.group_hug_created", service.messages.group_hug_created)


@registry.subscribe("FriendRequested", "notification.friend_requested")
def on_friend_requested(event: dict[str, Any]) -> None:
    """Tell the addressee of a friend request."""
    _notify(event, "notification.friend_requested", service.messages.friend_requested)


@registry.subscribe("FriendshipAccepted", "notification.friendship_accepted")
def on_friendship_accepted(event: dict[str, Any]) -> None:
    """Tell the requester that their friend request was accepted."""
    _notify(event, "notification.friendship_accepted", service.messages.friendship_accepted)


@registry.subscribe("StreakMilestone", "notification.streak_milestone")
def on_streak_milestone(event: dict[str, Any]) -> None:
    """Congratulate a user on a streak milestone."""
    _notify(event, "notification.streak_milestone", service.messages.streak_milestone)


@registry.subscribe("PasswordResetRequested", "notification.password_reset")
def on_password_reset_requested(event: dict[str, Any]) -> None:
    """Email the reset link (the only place the token goes) and note the request in-app."""
    reset_url = app().config["HUGMOOD"].NOTIFICATION_PASSWORD_RESET_URL
    _notify(event, "notification.password_reset", lambda data: service.messages.password_reset(data, reset_url))


@registry.subscribe("EmailVerificationRequested", "notification.email_verification")
def on_email_verification_requested(event: dict[str, Any]) -> None:
    """Email the confirmation link to the address being verified and note it in-app."""
    verify_url = app().config["HUGMOOD"].NOTIFICATION_EMAIL_VERIFY_URL
    _notify(
        event, "notification.email_verification", lambda data: service.messages.email_verification(data, verify_url)
    )


on_user_deleted = subscribe_erasure("notification", app, db, ProcessedEvent, USER_DATA)


@shared_task(name=DELIVER_TASK, bind=True, max_retries=8, acks_late=True)
def deliver(self: Any, delivery_id: str) -> str:
    """Send one push or email; idempotent (a sent or locked delivery is skipped), retried with backoff."""
    flask_app = app()
    with flask_app.app_context():
        result = service.delivery.deliver(
            delivery_id=uuid.UUID(delivery_id),
            providers=flask_app.extensions["notification_providers"],
            addresses=flask_app.extensions["notification_addresses"],
        )
    if result.retry_in is not None:
        try:
            raise self.retry(countdown=result.retry_in)
        except MaxRetriesExceededError:
            return "pending"  # the row is still pending: the sweep takes it from here
    return result.status


@shared_task(name=SWEEP_TASK, acks_late=True)
def sweep_deliveries() -> int:
    """Re-enqueue due deliveries whose enqueue was lost, and pushes held by quiet hours; delete
    finished deliveries past their retention."""
    flask_app = app()
    with flask_app.app_context():
        ids = service.delivery.due_for_sending()
    enqueue(ids)  # before pruning, so sends never wait on it
    retention = timedelta(days=flask_app.config["HUGMOOD"].NOTIFICATION_DELIVERY_RETENTION_DAYS)
    with flask_app.app_context():
        service.delivery.prune_finished(retention=retention)
    return len(ids)
