"""Celery consumers of the mood service: thin, idempotent shells over service.py."""

from __future__ import annotations

import uuid
from typing import Any

from services.mood import service
from services.mood.app import create_app
from services.mood.models import ProcessedEvent, db
from shared.events import claim_once, lazy_app, registry

app = lazy_app(create_app)


@registry.subscribe("MoodRecorded", "mood.streaks")
@registry.subscribe("MoodUpdated", "mood.streaks")
def on_mood_written(event: dict[str, Any]) -> None:
    """Publish the streak milestones a new or moved entry completes (each once per streak).

    Done here, not in the request, so recording a mood never waits on (or fails with) the user
    service, which knows the owner's time zone; an outage only delays the milestone (retries).
    """
    user_id = uuid.UUID(event["data"]["user_id"])
    flask_app = app()
    with flask_app.app_context():
        timezone = flask_app.extensions["mood_audience"].get(user_id, user_id).timezone
        if claim_once(db.session, ProcessedEvent, event["id"], "mood.streaks"):
            service.publish_milestones(user_id=user_id, timezone=timezone)
        db.session.commit()
