"""Errors the notification service raises, each with a stable code."""

from shared.errors import Conflict, NotFound


class NotificationNotFound(NotFound):
    """No notification of the caller has this id."""

    code = "notification.not_found"


class DeviceNotFound(NotFound):
    """No device of the caller has this id."""

    code = "notification.device_not_found"


class DeviceTokenTaken(Conflict):
    """The device token is registered to another account (a token is never moved between accounts)."""

    code = "notification.device_token_taken"
