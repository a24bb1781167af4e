"""Errors the user service raises, each with a stable code."""

from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed


class UserNotFound(NotFound):
    """No user has this id (or the account was deleted)."""

    code = "user.not_found"

    def __init__(self) -> None:
        super().__init__("No such user.")


class NotYourProfile(Forbidden):
    """Only the owner (or an admin, for a profile) may see or change this."""

    code = "user.forbidden"


class FriendRequestsClosed(Forbidden):
    """The user does not accept friend requests."""

    code = "user.friend_requests_closed"


class Blocked(Forbidden):
    """One of the two users has blocked the other."""

    code = "user.blocked"


class AlreadyConnected(Conflict):
    """The two users are already friends, or a request between them is pending."""

    code = "user.already_connected"


class NoSuchRequest(NotFound):
    """There is no friendship, request or block with this user to answer or remove."""

    code = "user.no_such_request"


class NotYourself(ValidationFailed):
    """A friendship cannot be asked of, answered by or removed from oneself."""

    code = "user.not_yourself"

    def __init__(self, field: str = "id") -> None:
        super().__init__("You cannot do this to yourself.", errors={field: ["Must be another user."]})
