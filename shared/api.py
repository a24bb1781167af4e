"""The Flask-RESTful Api every service uses: all errors leave as problem+json."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import flask_restful
from flask import Response, request
from marshmallow import Schema, ValidationError, fields

from shared.errors import ProblemError, handle_exception


class Api(flask_restful.Api):
    """Flask-RESTful's Api with one error path.

    Flask-RESTful's own handle_error bypasses Flask's error handlers for its routes, which is how
    flask-jwt-extended's token errors turn into 500s; render everything through shared.errors.
    """

    def handle_error(self, e: Exception) -> Response:
        return handle_exception(e)

    def error_router(self, original_handler: Any, e: Exception) -> Response:
        return handle_exception(e)


def utc_text(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as the API contract writes times (a naive time is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UtcDateTime(fields.DateTime):
    """A time in the API's form (utc_text)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return utc_text(value)


class UtcAwareDateTime(fields.AwareDateTime):
    """An RFC 3339 time (UTC when it has no offset), loaded in UTC. A time its offset takes out of
    datetime's range (0001-01-01T00:00:00+14:00) is a 422 here rather than an error in the database."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("Out of range.") from exc


class QueryInteger(fields.Integer):
    """An integer from a query string, written the plain way: ASCII digits, maybe a minus. int()
    alone also reads "１", " 5", "+5" and "1_0"."""

    _PLAIN = re.compile(r"\A-?[0-9]{1,18}\Z")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and not self._PLAIN.match(value):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON true or false only: not 1, "yes" or "true"."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def parse_id(raw: str, error: type[ProblemError], detail: str | None = None) -> uuid.UUID:
    """An id from a request path; a malformed id is an unknown one: `error` (a 404) is raised."""
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError):
        raise (error() if detail is None else error(detail)) from None


def load_body(schema: Schema) -> dict[str, Any]:
    """The JSON body loaded with `schema` (an empty body is an empty object; bad shapes are 422)."""
    return schema.load(request.get_json(silent=True) if request.get_data(cache=True) else {})


def load_query(schema: Schema) -> dict[str, Any]:
    """The query string loaded with `schema` (unknown parameters are 422)."""
    return schema.load(request.args.to_dict())
