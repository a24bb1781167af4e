"""Errors the mood service raises, each with a stable code."""

from shared.errors import Forbidden, NotFound


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
