"""Errors the social service raises, each with a stable code."""

from shared.errors import Conflict, NotFound, ServiceUnavailable


class ActivityNotFound(NotFound):
    """No activity has this id, or the caller may not see it."""

    code = "social.activity_not_found"


class ShareNotFound(NotFound):
    """No share has this id or token (or it was revoked), or it is not the caller's."""

    code = "social.share_not_found"


class ContentNotFound(NotFound):
    """The content does not exist, or the caller does not own it (which of the two stays secret)."""

    code = "social.content_not_found"


class ContentNotPublic(Conflict):
    """Only content its owner has made public can be shared."""

    code = "social.content_not_public"


class ContentUnavailable(ServiceUnavailable):
    """A service this request needed could not answer."""

    code = "upstream.unavailable"
