"""Opaque keyset cursors: stable while rows are inserted (no duplicates, no gaps)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from shared.api import QueryInteger
from shared.errors import ValidationFailed


class PageArgs(Schema):
    """`?limit=&cursor=` of every list endpoint."""

    limit = QueryInteger(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(load_default=None, validate=validate.Length(max=512))


def encode_cursor(*values: Any) -> str:
    """Pack the sort key of the last row into an opaque string."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[str]:
    """Unpack a cursor; 422 if it was not made by encode_cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != arity or not all(isinstance(v, str) for v in values):
            raise ValueError("wrong shape")
        return values
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("The cursor is invalid.", errors={"cursor": ["Invalid cursor."]}) from exc


def keyset_query(
    query: Any,
    *,
    time_column: Any,
    id_column: Any,
    limit: int,
    cursor: str | None,
) -> Any:
    """`query` narrowed to the rows after `cursor`, newest first, with one extra row to probe.

    The cursor is the (time, id) of the last row of the previous page; ids are UUIDs.
    """
    if cursor:
        when_raw, id_raw = decode_cursor(cursor, 2)
        try:
            when, last_id = datetime.fromisoformat(when_raw), uuid.UUID(id_raw)
            if when.tzinfo is not None:  # an offset that takes it out of range is refused here, not by the database
                when = when.astimezone(UTC)
        except (ValueError, OverflowError) as exc:
            raise ValidationFailed("The cursor is invalid.", errors={"cursor": ["Invalid cursor."]}) from exc
        query = query.where(or_(time_column < when, and_(time_column == when, id_column < last_id)))
    return query.order_by(time_column.desc(), id_column.desc()).limit(limit + 1)


def page_result(rows: Sequence[Any], limit: int, key: Callable[[Any], tuple[Any, Any]]) -> tuple[list[Any], str | None]:
    """Cut the extra row fetched by keyset_query and make the next cursor."""
    items = list(rows)
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, encode_cursor(*key(items[-1]))


def paginate(
    session: Session, query: Any, *, time_column: Any, id_column: Any, page: Mapping[str, Any]
) -> tuple[list[Any], str | None]:
    """One page of `query`, newest first by (`time_column`, `id_column`), and the next page's cursor.

    `page` holds the `limit` and `cursor` of the request (as PageArgs loads them).
    A query of one entity pages its objects; a query of several columns pages its rows. Either way
    the two sort columns are read back from each item by their names.
    """
    limit = page["limit"]
    narrowed = keyset_query(query, time_column=time_column, id_column=id_column, limit=limit, cursor=page.get("cursor"))
    result = session.execute(narrowed)
    rows = result.scalars().all() if len(query.column_descriptions) == 1 else result.all()
    return page_result(rows, limit, key=lambda row: (getattr(row, time_column.key), getattr(row, id_column.key)))
