"""User service wiring."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, Response, g

from services.user import api, service
from services.user.models import db
from shared.app import create_base_app
from shared.config import DATABASE_SETTINGS, resolve_config

SETTINGS = [*DATABASE_SETTINGS]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the user service."""
    config = resolve_config("user", config, SETTINGS)
    base = create_base_app("user", config, db=db, public_endpoints=api.PUBLIC_ENDPOINTS)
    api.register_resources(base.api)

    @base.app.after_request
    def _seen(response: Response) -> Response:
        identity = g.get("identity")
        if identity is not None and not identity.is_service and response.status_code < 400:
            service.touch_last_active(user_id=uuid.UUID(identity.subject), client=base.redis)
        return response

    return base.app
