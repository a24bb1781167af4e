"""User service wiring."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.user import api
from services.user.models import db
from shared.app import create_base_app
from shared.config import DATABASE_SETTINGS, resolve_config

SETTINGS = [*DATABASE_SETTINGS]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the user service."""
    config = resolve_config("user", config, SETTINGS)
    base = create_base_app("user", config, db=db, public_endpoints=api.PUBLIC_ENDPOINTS)
    api.register_resources(base.api)
    return base.app
