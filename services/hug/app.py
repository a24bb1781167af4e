"""Hug service wiring."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.hug import api
from services.hug.models import db
from services.hug.service import audience_source
from shared.app import create_base_app
from shared.config import DATABASE_SETTINGS, Setting, parse_positive, resolve_config

SETTINGS = [
    *DATABASE_SETTINGS,
    Setting(
        "HUG_FLOOD_LIMIT",
        parse_positive(int),
        10,
        help="hugs one sender may send one recipient per flood window (more: 429)",
    ),
    Setting(
        "HUG_FLOOD_WINDOW_SECONDS",
        parse_positive(int),
        600,
        help="length of the per-sender-per-recipient flood window of hugs, hug requests and group invites",
    ),
    Setting(
        "HUG_REQUEST_FLOOD_LIMIT",
        parse_positive(int),
        5,
        help="hug requests one sender may send one recipient (or the community) per flood window (more: 429)",
    ),
    Setting(
        "GROUP_INVITE_FLOOD_LIMIT",
        parse_positive(int),
        5,
        help="group hug invites one creator may send one invitee per flood window (more: 429)",
    ),
]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the hug service."""
    config = resolve_config("hug", config, SETTINGS)
    base = create_base_app("hug", config, db=db, public_endpoints=api.PUBLIC_ENDPOINTS)
    base.app.extensions["hug_audience"] = audience_source(base.client, base.redis)
    api.register_resources(base.api)
    return base.app
