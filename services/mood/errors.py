"""Errors the mood service raises, each with a stable code."""

from shared.errors import Forbidden, NotFound


class MoodNotFound(NotFound):
    code = "mood.not_found"


class NotYourMood(Forbidden):
    code = "mood.forbidden"


class InsightNotFound(NotFound):
    code = "mood.insight_not_found"


class NotYourAnalytics(Forbidden):
    code = "mood.analytics_forbidden"
