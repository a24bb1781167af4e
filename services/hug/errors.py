"""Errors the hug service raises, each with a stable code."""

from shared.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed


class HugNotFound(NotFound):
    """No hug has this id, or the caller is neither its sender nor its recipient."""

    code = "hug.not_found"


class UserNotFound(NotFound):
    """The user named in the request (a recipient or invitee) does not exist."""

    code = "hug.user_not_found"


class HugRequestNotFound(NotFound):
    """No hug request has this id, or the caller may not see it."""

    code = "hug.request_not_found"


class GroupHugNotFound(NotFound):
    """No group hug has this id, or the caller is neither its creator nor invited."""

    code = "hug.group_not_found"


class HugsNotAccepted(Forbidden):
    """The recipient's allow_hugs_from excludes the caller, or one of them blocked the other."""

    code = "hug.not_accepted"


class NotTheRecipient(Forbidden):
    """Only the recipient of a hug may mark it read."""

    code = "hug.not_recipient"


class OwnRequest(Forbidden):
    """A hug request cannot be answered by the user who made it."""

    code = "hug.own_request"


class HugToSelf(ValidationFailed):
    """A hug, hug request or group hug cannot be aimed at oneself."""

    code = "hug.to_self"


class HugFlood(TooManyRequests):
    """The caller has sent this recipient too many hugs in the flood window (HUG_FLOOD_LIMIT)."""

    code = "hug.flood"


class HugRequestFlood(TooManyRequests):
    """The caller has asked this recipient (or the community) for too many hugs in the flood window."""

    code = "hug.request_flood"


class GroupInviteFlood(TooManyRequests):
    """The caller has invited one of these users to too many group hugs in the flood window."""

    code = "hug.group_invite_flood"


class RequestAlreadyAnswered(Conflict):
    """The hug request was already accepted or declined."""

    code = "hug.request_answered"


class AlreadyJoined(Conflict):
    """The caller is already in this group hug (its creator, or joined before)."""

    code = "hug.group_already_joined"


class GroupHugClosed(Conflict):
    """Joining a group hug that expired (or already completed)."""

    code = "hug.group_expired"


class CommunityDecline(ValidationFailed):
    """A community request can only be accepted: declining would close it for everyone."""

    code = "hug.request_community_decline"


class UnknownInvitees(ValidationFailed):
    """Some of the group hug's participant_ids name no user; `errors` lists them."""

    code = "hug.group_unknown_invitees"
