"""The one clock of every service: timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Wall-clock now in UTC, aware (not the transaction's start, as SQL's now() is: rows written in
    one transaction still order)."""
    return datetime.now(UTC)
