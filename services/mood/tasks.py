"""Celery consumers of the mood service: thin, idempotent shells over service.py."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from celery import shared_task
from sqlalchemy.exc import DBAPIError

from services.mood import errors, service
from services.mood.app import create_app
from services.mood.models import USER_DATA, ProcessedEvent, db
from shared.datarights import subscribe_erasure
from shared.events import claim_once, lazy_app, registry
from shared.sqlstate import is_erasure_refusal

log = logging.getLogger("hugmood.mood.tasks")
app = lazy_app(create_app)

REFRESH_INSIGHTS_TASK = "mood.refresh_insights"


def enqueue_refresh(user_id: str, delay: int) -> None:
    """Send the insight refresh for `user_id`, to run `delay` seconds from now."""
    refresh_insights.apply_async(args=(user_id,), countdown=delay, retry=False)


def request_insights(flask_app: Any, user_id: uuid.UUID) -> None:
    """Ask for a debounced insight refresh of `user_id`; a failure is logged, not raised (the
    next entry or hug asks again), so it never makes a consumer redo work it has committed."""
    try:
        service.insights.schedule_refresh(
            flask_app.extensions["redis"],
            user_id,
            delay=flask_app.config["HUGMOOD"].MOOD_INSIGHTS_DELAY_SECONDS,
            send=enqueue_refresh,
        )
    except Exception:
        log.warning("insight refresh not scheduled", extra={"user_id": str(user_id)}, exc_info=True)


@registry.subscribe("MoodRecorded", "mood.streaks")
@registry.subscribe("MoodUpdated", "mood.streaks")
@registry.subscribe("MoodsImported", "mood.streaks")
def on_mood_written(event: dict[str, Any]) -> None:
    """Publish the streak milestones new, moved or imported entries complete (each once per streak),
    then ask for a refresh of the owner's insights.

    Done here, not in the request, so recording a mood never waits on (or fails with) the user
    service, which knows the owner's time zone; an outage only delays the milestone (retries).
    """
    user_id = uuid.UUID(event["data"]["user_id"])
    flask_app = app()
    with flask_app.app_context():
        try:
            timezone = service.audience(flask_app.extensions["mood_audience"], user_id, user_id).timezone
        except errors.MoodNotFound:
            # The account has been deleted since: no streak to announce. Retrying would only
            # end in a dead letter naming a user whose data is being erased.
            return
        if claim_once(db.session, ProcessedEvent, event["id"], "mood.streaks"):
            service.publish_milestones(user_id=user_id, timezone=timezone)
        db.session.commit()
        request_insights(flask_app, user_id)


@registry.subscribe("MoodDeleted", "mood.insights")
def on_mood_deleted(event: dict[str, Any]) -> None:
    """A deleted entry may change a finding: ask for a refresh (debounced, so idempotent)."""
    flask_app = app()
    with flask_app.app_context():
        request_insights(flask_app, uuid.UUID(event["data"]["user_id"]))


@registry.subscribe("HugSent", "mood.hug_days")
def on_hug_sent(event: dict[str, Any]) -> None:
    """The sender's "sent" and the recipient's "received" hug day, then a refresh of both users'
    insights (a hug may change their hug effect)."""
    data = event["data"]
    hug_id, sender_id, recipient_id = (uuid.UUID(data[k]) for k in ("hug_id", "sender_id", "recipient_id"))
    flask_app = app()
    with flask_app.app_context():
        kept: list[uuid.UUID] = []
        if claim_once(db.session, ProcessedEvent, event["id"], "mood.hug_days"):
            at = datetime.fromisoformat(event["occurred_at"])
            kept = service.record_hug(hug_id=hug_id, sender_id=sender_id, recipient_id=recipient_id, at=at)
        db.session.commit()
        for user_id in kept:
            request_insights(flask_app, user_id)


@shared_task(
    name=REFRESH_INSIGHTS_TASK,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    ignore_result=True,
)
def refresh_insights(user_id: str) -> dict[str, int] | None:
    """Recompute one user's insights (never on the read path); None if the account is gone."""
    owner = uuid.UUID(user_id)
    flask_app = app()
    with flask_app.app_context():
        service.insights.begin_refresh(flask_app.extensions["redis"], owner)
        try:
            timezone = service.audience(flask_app.extensions["mood_audience"], owner, owner).timezone
        except errors.MoodNotFound:
            return None
        try:
            return service.insights.refresh(
                user_id=owner, timezone=timezone, min_days=flask_app.config["HUGMOOD"].MOOD_ANALYTICS_MIN_DAYS
            )
        except DBAPIError as exc:
            if not is_erasure_refusal(exc):
                raise
            # Erased while the refresh ran: its rows are refused, and there is nothing to retry.
            db.session.rollback()
            return None


on_user_deleted = subscribe_erasure("mood", app, db, ProcessedEvent, USER_DATA)
