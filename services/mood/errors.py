"""Errors the mood service raises, each with a stable code."""

from shared.errors import Forbidden, NotFound, ValidationFailed


class MoodNotFound(NotFound):
    """No mood entry (or user) has this id, or the caller may not see it: another user's entry that
    is private, or that their privacy settings keep from the caller."""

    code = "mood.not_found"


class NotYourMood(Forbidden):
    """The caller may see this mood entry but only its owner may change or delete it."""

    code = "mood.forbidden"


class InsightNotFound(NotFound):
    code = "mood.insight_not_found"


class NotYourAnalytics(Forbidden):
    code = "mood.analytics_forbidden"


class ContentNotFound(NotFound):
    code = "content.not_found"


class NotAnEditor(Forbidden):
    code = "content.forbidden"


class ImportInvalid(ValidationFailed):
    code = "mood.import_invalid"


class ImportTooLong(ValidationFailed):
    code = "mood.import_too_many_rows"
