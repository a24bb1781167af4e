"""Errors the social service raises, each with a stable code."""

from shared.errors import Conflict, NotFound, ServiceUnavailable


class ActivityNotFound(NotFound):
    code = "social.activity_not_found"


class ShareNotFound(NotFound):
    code = "social.share_not_found"


class ContentNotFound(NotFound):
    """The content does not exist, or the caller does not own it (which of the two stays secret)."""

    code = "social.content_not_found"


class ContentNotPublic(Conflict):
    """Only content its owner has made public can be shared."""

    code = "social.content_not_public"


class ContentUnavailable(ServiceUnavailable):
    code = "upstream.unavailable"
