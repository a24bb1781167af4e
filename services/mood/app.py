"""Mood service wiring."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.mood import api
from services.mood.models import db
from services.mood.service import audience_source
from shared.app import create_base_app
from shared.config import DATABASE_SETTINGS, Setting, parse_non_negative_int, parse_positive, resolve_config

SETTINGS = [
    *DATABASE_SETTINGS,
    Setting(
        "MOOD_ANALYTICS_MIN_DAYS",
        parse_positive(int),
        5,
        help="days a correlation factor needs on each side (with it, without it) to be tested",
    ),
    Setting(
        "MOOD_INSIGHTS_DELAY_SECONDS",
        parse_non_negative_int,
        60,
        help="how long the insight refresh waits after new entries or hugs (one refresh per user per wait)",
    ),
]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the mood service."""
    config = resolve_config("mood", config, SETTINGS)
    base = create_base_app(
        "mood", config, db=db, public_endpoints=api.PUBLIC_ENDPOINTS, upload_endpoints=api.UPLOAD_ENDPOINTS
    )
    base.app.extensions["mood_audience"] = audience_source(base.client, base.redis)
    api.register_resources(base.api)
    return base.app
