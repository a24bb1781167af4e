"""Mood business logic: entries and their visibility, streaks, analytics."""

from services.mood.service.account import export_account
from services.mood.service.analytics import analytics
from services.mood.service.audience import Audience, admits, audience, audience_source
from services.mood.service.entries import change, history, read, record, remove, shareable, visible
from services.mood.service.streaks import MILESTONES, publish_milestones, streak

__all__ = [
    "MILESTONES",
    "Audience",
    "admits",
    "analytics",
    "audience",
    "audience_source",
    "change",
    "export_account",
    "history",
    "publish_milestones",
    "read",
    "record",
    "remove",
    "shareable",
    "streak",
    "visible",
]
