"""Errors the user service raises, each with a stable code."""

from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed


class UserNotFound(NotFound):
    code = "user.not_found"

    def __init__(self) -> None:
        super().__init__("No such user.")


class NotYourProfile(Forbidden):
    code = "user.forbidden"


class FriendRequestsClosed(Forbidden):
    code = "user.friend_requests_closed"


class Blocked(Forbidden):
    code = "user.blocked"


class AlreadyConnected(Conflict):
    code = "user.already_connected"


class NoSuchRequest(NotFound):
    code = "user.no_such_request"


class NotYourself(ValidationFailed):
    code = "user.not_yourself"

    def __init__(self, field: str = "id") -> None:
        super().__init__("You cannot do this to yourself.", errors={field: ["Must be another user."]})
