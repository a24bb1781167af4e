"""Celery tasks and consumers of the hug service: thin, idempotent shells over the service package."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from services.hug import service
from services.hug.app import create_app
from services.hug.models import USER_DATA, ProcessedEvent, db
from shared.datarights import erase_on_event
from shared.events import lazy_app, registry

app = lazy_app(create_app)

EXPIRE_EVERY_SECONDS = 30.0
BEAT_SCHEDULE = {
    "hug.expire_group_hugs": {"task": "hug.expire_group_hugs", "schedule": EXPIRE_EVERY_SECONDS},
}


@shared_task(
    name="hug.expire_group_hugs",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
    ignore_result=True,
)
def expire_group_hugs() -> int:
    """Mark active group hugs past their expires_at as expired (idempotent: reruns change nothing)."""
    with app().app_context():
        return service.expire_group_hugs()


@registry.subscribe("UserDeleted", "hug.erase")
def on_user_deleted(event: dict[str, Any]) -> None:
    """Erase every hug, hug request and group hug naming the user (on either side), once; then
    their Redis keys (on every delivery)."""
    flask_app = app()
    with flask_app.app_context():
        erase_on_event(db.session, ProcessedEvent, "hug.erase", event, USER_DATA, flask_app.extensions["redis"])
