"""Celery consumers of the user service: thin, idempotent shells over the service package."""

from __future__ import annotations

import uuid
from typing import Any

from services.user import service
from services.user.app import create_app
from services.user.models import USER_DATA, ProcessedEvent, db
from shared.datarights import subscribe_erasure
from shared.events import claim_once, lazy_app, registry

app = lazy_app(create_app)


@registry.subscribe("UserRegistered", "user.profiles")
def on_user_registered(event: dict[str, Any]) -> None:
    """Create the new user's profile and default privacy settings, once."""
    data = event["data"]
    with app().app_context():
        if claim_once(db.session, ProcessedEvent, event["id"], "user.profiles"):
            service.create_profile(
                user_id=uuid.UUID(data["user_id"]), username=data["username"], display_name=data["display_name"]
            )
        db.session.commit()


on_user_deleted = subscribe_erasure("user", app, db, ProcessedEvent, USER_DATA)
