"""Notification business logic: inbox and long polling, preferences, devices, deliveries, providers."""

from services.notification.service import delivery, devices, inbox, messages, preferences, providers
from services.notification.service.account import export_account
from services.notification.service.inbox import Draft, EmailDraft, Outcome
from services.notification.service.poll import poll
from services.notification.service.preferences import TimezoneSource

__all__ = [
    "Draft",
    "EmailDraft",
    "Outcome",
    "TimezoneSource",
    "delivery",
    "devices",
    "export_account",
    "inbox",
    "messages",
    "poll",
    "preferences",
    "providers",
]
