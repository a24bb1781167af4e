"""Errors the mood service raises, each with a stable code."""

from shared.errors import Forbidden, NotFound, ValidationFailed


class MoodNotFound(NotFound):
    code = "mood.not_found"


class NotYourMood(Forbidden):
    code = "mood.forbidden"


class ContentNotFound(NotFound):
    code = "content.not_found"


class NotAnEditor(Forbidden):
    code = "content.forbidden"


class OwnerOnly(Forbidden):
    code = "analytics.forbidden"


class ImportInvalid(ValidationFailed):
    code = "mood.import_invalid"


class ImportTooLong(ValidationFailed):
    code = "mood.import_too_many_rows"
