"""Mood business logic: entries and their visibility, streaks, analytics, correlations, patterns,
hug days and insights."""

from services.mood.service import insights
from services.mood.service.account import export_account
from services.mood.service.analytics import analytics
from services.mood.service.audience import Audience, admits, audience, audience_source
from services.mood.service.correlations import correlations
from services.mood.service.entries import change, history, read, record, remove, shareable, visible
from services.mood.service.hugdays import record_hug
from services.mood.service.patterns import patterns
from services.mood.service.streaks import MILESTONES, publish_milestones, streak

__all__ = [
    "MILESTONES",
    "Audience",
    "admits",
    "analytics",
    "audience",
    "audience_source",
    "change",
    "correlations",
    "export_account",
    "history",
    "insights",
    "patterns",
    "publish_milestones",
    "read",
    "record",
    "record_hug",
    "remove",
    "shareable",
    "streak",
    "visible",
]
