"""Errors the hug service raises, each with a stable code."""

from shared.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed


class HugNotFound(NotFound):
    code = "hug.not_found"


class UserNotFound(NotFound):
    code = "hug.user_not_found"


class HugRequestNotFound(NotFound):
    code = "hug.request_not_found"


class GroupHugNotFound(NotFound):
    code = "hug.group_not_found"


class HugsNotAccepted(Forbidden):
    """The recipient's allow_hugs_from excludes the caller, or one of them blocked the other."""

    code = "hug.not_accepted"


class NotTheRecipient(Forbidden):
    code = "hug.not_recipient"


class OwnRequest(Forbidden):
    code = "hug.own_request"


class HugToSelf(ValidationFailed):
    code = "hug.to_self"


class HugFlood(TooManyRequests):
    code = "hug.flood"


class HugRequestFlood(TooManyRequests):
    code = "hug.request_flood"


class GroupInviteFlood(TooManyRequests):
    code = "hug.group_invite_flood"


class RequestAlreadyAnswered(Conflict):
    code = "hug.request_answered"


class AlreadyJoined(Conflict):
    code = "hug.group_already_joined"


class GroupHugClosed(Conflict):
    """Joining a group hug that expired (or already completed)."""

    code = "hug.group_expired"


class CommunityDecline(ValidationFailed):
    """A community request can only be accepted: declining would close it for everyone."""

    code = "hug.request_community_decline"


class UnknownInvitees(ValidationFailed):
    code = "hug.group_unknown_invitees"
