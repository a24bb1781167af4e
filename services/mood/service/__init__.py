"""Mood business logic: entries and their visibility, streaks, analytics."""

from services.mood.service.account import export_account
from services.mood.service.analytics import analytics
from services.mood.service.audience import Audience, AudienceSource, admits
from services.mood.service.entries import change, history, parse_id, read, record, remove, shareable, visible
from services.mood.service.streaks import MILESTONES, publish_milestones, streak

__all__ = [
    "MILESTONES",
    "Audience",
    "AudienceSource",
    "admits",
    "analytics",
    "change",
    "export_account",
    "history",
    "parse_id",
    "publish_milestones",
    "read",
    "record",
    "remove",
    "shareable",
    "streak",
    "visible",
]
