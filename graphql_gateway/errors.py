"""GraphQL errors in the REST API's terms: extensions carry the problem's code and status."""

from __future__ import annotations

import uuid
from typing import Any

from graphql import GraphQLError


def problem_error(message: str, code: str, status: int, service: str | None = None, **more: Any) -> GraphQLError:
    """A GraphQL error whose extensions say what the REST API would have answered."""
    extensions: dict[str, Any] = {"code": code, "status": status}
    if service is not None:
        extensions["service"] = service
    extensions.update({k: v for k, v in more.items() if v is not None})
    return GraphQLError(message, extensions=extensions)


def path_id(raw: str, code: str = "not_found", *, me: bool = True) -> str:
    """An id to put in a service's path: a UUID (or `me`); anything else is unknown, as in REST."""
    if me and raw == "me":
        return raw
    try:
        return str(uuid.UUID(raw))
    except (ValueError, TypeError, AttributeError):
        raise problem_error("No such object.", code, 404) from None
