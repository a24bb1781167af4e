"""Conditional requests (RFC 9110 §13) on single objects: an ETag on every answer, 304 for an
If-None-Match that already has it, 412 for an If-Match that no longer matches.

An ETag is strong, `"<hash>"`, the SHA-256 (first 128 bits, hex) of the object's JSON
representation as its owner gets it, so it changes whenever a field a client can see changes,
an edit's `updated_at` included. A representation may set aside fields that move without an edit
(a profile's `last_active`): the tag is then `"<hash>-<hash of those>"`. If-None-Match compares
the whole tag (a client polling a profile sees `last_active` move); If-Match compares the part
before the `-` only, so a stamp the server moved on its own never refuses an edit. A weak tag
(`W/"..."`) never satisfies If-Match (strong comparison, RFC 9110 §8.8.3.2).

The If-Match check runs inside the write's transaction, on the row locked FOR UPDATE: of two
writers holding the same ETag, the second finds the first's change and gets 412 (no lost update
between check and write).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, jsonify, request

from shared.errors import BadRequest, PreconditionFailed

T = TypeVar("T")
# What a service's write takes: the If-Match check to run on the locked row, or None.
Precondition = Callable[[T], None] | None

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_TAG_LIST = re.compile(rf"\A[ \t]*{_TAG}(?:[ \t]*,[ \t]*{_TAG})*[ \t]*\Z")
_ONE_TAG = re.compile(rf"({_TAG})")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def etag_of(representation: Mapping[str, Any], *, aside: tuple[str, ...] = ()) -> str:
    """The strong ETag of a JSON representation; fields in `aside` count in their own part."""
    state = {k: v for k, v in representation.items() if k not in aside}
    tag = _digest(state)
    if aside:
        tag += "-" + _digest({k: representation.get(k) for k in aside})[:8]
    return f'"{tag}"'


def _write_part(tag: str) -> str:
    return tag.strip('"').split("-", 1)[0]


def entity_tags(header: str, name: str) -> list[str] | None:
    """The tags of an If-Match or If-None-Match value (None for `*`); 400 when it is not one."""
    if header.strip() == "*":
        return None
    if not _TAG_LIST.match(header):
        raise BadRequest(
            f'{name} must be "*" or a list of ETags such as "3f2a...".',
            code="precondition.malformed",
            errors={name: ["Not an ETag: quote it as the ETag header gives it."]},
        )
    return _ONE_TAG.findall(header)


def answer(representation: Mapping[str, Any], etag: str, status: int = 200) -> Response:
    """A single object's answer with its ETag; 304 without a body for a GET whose If-None-Match
    already has it (weak comparison: W/"x" matches "x")."""
    header = request.headers.get("If-None-Match")
    if header is not None and request.method == "GET":
        tags = entity_tags(header, "If-None-Match")
        if tags is None or any(tag.removeprefix("W/") == etag for tag in tags):
            response = Response(status=304)
            response.headers.pop("Content-Type", None)  # no body, so no type (RFC 9110 §15.4.5)
            response.headers["ETag"] = etag
            return response
    response = jsonify(representation)
    response.status_code = status
    response.headers["ETag"] = etag
    return response


def precondition(etag_of_current: Callable[[T], str]) -> Callable[[T], None] | None:
    """The request's If-Match as a check to run on the locked object before a write (None when the
    request has none). A malformed header is refused now (400), before anything is read."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = entity_tags(header, "If-Match")

    def check(current: T) -> None:
        if tags is None:  # "*": any current representation will do
            return
        now = _write_part(etag_of_current(current))
        if not any(not tag.startswith("W/") and _write_part(tag) == now for tag in tags):
            raise PreconditionFailed(
                "The object changed since you read it: read it again, then retry with its new ETag."
            )

    return check
