"""Social service wiring."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.social import api
from services.social.models import db
from shared.app import create_base_app
from shared.config import DATABASE_SETTINGS, Setting, resolve_config

SETTINGS = [
    *DATABASE_SETTINGS,
    Setting(
        "SOCIAL_PUBLIC_BASE_URL",
        str,
        "http://localhost:4000",
        help="public base URL of the gateway, the start of every share_url",
    ),
]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the social service."""
    config = resolve_config("social", config, SETTINGS)
    base = create_base_app("social", config, db=db, public_endpoints=api.PUBLIC_ENDPOINTS)
    api.register_resources(base.api)
    return base.app
