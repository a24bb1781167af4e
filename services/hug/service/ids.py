"""Ids from request paths."""

from __future__ import annotations

import uuid

from shared.errors import NotFound


def parse_id(raw: str, error: type[NotFound]) -> uuid.UUID:
    """An id from a path; a malformed id is an unknown id (404 of the given kind)."""
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError):
        raise error() from None
