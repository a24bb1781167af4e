"""Celery tasks and consumers of the hug service: thin, idempotent shells over the service package."""

from __future__ import annotations

from celery import shared_task

from services.hug import service
from services.hug.app import create_app
from services.hug.models import USER_DATA, ProcessedEvent, db
from shared.datarights import subscribe_erasure
from shared.events import lazy_app

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


on_user_deleted = subscribe_erasure("hug", app, db, ProcessedEvent, USER_DATA)
