"""Errors the notification service raises, each with a stable code."""

from shared.errors import NotFound


class NotificationNotFound(NotFound):
    code = "notification.not_found"


class DeviceNotFound(NotFound):
    code = "notification.device_not_found"
