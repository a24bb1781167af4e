"""Errors the notification service raises, each with a stable code."""

from shared.errors import Conflict, NotFound


class NotificationNotFound(NotFound):
    code = "notification.not_found"


class DeviceNotFound(NotFound):
    code = "notification.device_not_found"


class DeviceTokenTaken(Conflict):
    code = "notification.device_token_taken"
