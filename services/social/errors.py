"""Errors the social service raises, each with a stable code."""

from shared.errors import NotFound, ServiceUnavailable


class ActivityNotFound(NotFound):
    code = "social.activity_not_found"


class UsersUnavailable(ServiceUnavailable):
    code = "upstream.unavailable"
