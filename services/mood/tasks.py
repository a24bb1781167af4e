"""Celery consumers of the mood service: thin, idempotent shells over service.py."""

from __future__ import annotations

import uuid
from typing import Any

from services.mood import errors, service
from services.mood.app import create_app
from services.mood.models import USER_DATA, ProcessedEvent, db
from shared.datarights import subscribe_erasure
from shared.events import claim_once, lazy_app, registry

app = lazy_app(create_app)


@registry.subscribe("MoodRecorded", "mood.streaks")
@registry.subscribe("MoodUpdated", "mood.streaks")
@registry.subscribe("MoodsImported", "mood.streaks")
def on_mood_written(event: dict[str, Any]) -> None:
    """Publish the streak milestones new, moved or imported entries complete (each once per streak).

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


on_user_deleted = subscribe_erasure("mood", app, db, ProcessedEvent, USER_DATA)
