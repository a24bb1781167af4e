"""The services' cursor pages as GraphQL lists: limit/offset on the design's fields, Relay
connections (first/after) on the others. An offset is walked over the cursors, a page of at
most MAX_PAGE at a time, up to GRAPHQL_MAX_OFFSET."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from graphql_gateway.errors import problem_error
from graphql_gateway.limits import DEFAULT_PAGE, MAX_PAGE
from graphql_gateway.upstream import Context

Fetch = Callable[[str | None, int], tuple[list[dict[str, Any]], str | None]]


def size(value: int | None, name: str) -> int:
    """A page size argument: 1..MAX_PAGE, DEFAULT_PAGE when absent."""
    if value is None:
        return DEFAULT_PAGE
    if not 1 <= value <= MAX_PAGE:
        raise _invalid(name, f"Must be between 1 and {MAX_PAGE}.")
    return value


def pages(context: Context, service: str, path: str, params: dict[str, Any] | None = None) -> Fetch:
    """A fetch of one page of a service's list: (items, next cursor)."""

    def fetch(cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        query = {**(params or {}), "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        body = context.call(service, "GET", path, params=query)
        return body["items"], body.get("next_cursor")

    return fetch


def _window(fetch: Fetch, start: str | None, skip: int, count: int) -> tuple[list[tuple[dict, str]], bool]:
    """`count` items after the first `skip` from cursor `start`, each with its edge cursor, and
    whether more follow. An edge cursor is (the service's cursor of its page, its place in it)."""
    out: list[tuple[dict, str]] = []
    cursor, need = start, skip + count
    while True:
        items, following = fetch(cursor, min(MAX_PAGE, need))
        for place, item in enumerate(items, 1):
            if skip:
                skip -= 1
            elif len(out) < count:
                out.append((item, _encode(cursor, place)))
        need -= len(items)
        if len(out) >= count or following is None or not items:
            return out, following is not None
        cursor = following


def offset_list(context: Context, fetch: Fetch, limit: int | None, offset: int | None) -> list[dict[str, Any]]:
    """The design's limit/offset over a cursor list."""
    count = size(limit, "limit")
    skip = offset or 0
    if not 0 <= skip <= context.config["GRAPHQL_MAX_OFFSET"]:
        raise _invalid("offset", f"Must be between 0 and {context.config['GRAPHQL_MAX_OFFSET']}.")
    items, _ = _window(fetch, None, skip, count)
    return [item for item, _ in items]


def connection(
    fetch: Fetch, first: int | None, after: str | None, node: Callable[[dict[str, Any]], Any] = lambda item: item
) -> dict[str, Any]:
    """A Relay connection page: edges {cursor, node} and pageInfo."""
    count = size(first, "first")
    start, skip = _decode(after) if after is not None else (None, 0)
    items, more = _window(fetch, start, skip, count)
    edges = [{**item, "cursor": cursor, "node": node(item)} for item, cursor in items]
    end = edges[-1]["cursor"] if edges else after
    return {"edges": edges, "page_info": {"has_next_page": more, "end_cursor": end}}


def _encode(cursor: str | None, place: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([cursor, place]).encode()).decode().rstrip("=")


def _decode(after: str) -> tuple[str | None, int]:
    try:
        cursor, place = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
        if not (cursor is None or isinstance(cursor, str)) or not isinstance(place, int) or not 0 <= place <= MAX_PAGE:
            raise ValueError("wrong shape")
    except (ValueError, TypeError, UnicodeDecodeError):
        raise _invalid("after", "Invalid cursor.") from None
    return cursor, place


def _invalid(argument: str, message: str) -> Exception:
    return problem_error(f"{argument}: {message}", "validation_failed", 422, errors={argument: [message]})
