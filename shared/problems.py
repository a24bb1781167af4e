"""The catalogue of problem codes: what each `type` URI of a problem body points to.

Every error class (a ProblemError subclass with its own `code`) is a page: its docstring says what
the code means and its `advice` what a client should do. A code raised with `code=` rather than a
class of its own is a page in its module's `PROBLEM_PAGES`. The gateway serves the pages of every
module (collected into its OpenAPI document) at `/api/v1/problems/{code}`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

from shared.errors import PROBLEM_BASE, BadRequest, NotFound, ProblemError, ServiceUnavailable, Unauthorized


@dataclass(frozen=True)
class ProblemPage:
    """One problem code: its status, title, meaning and what a client should do about it."""

    code: str
    status: int
    title: str
    meaning: str
    advice: str

    @classmethod
    def of(cls, kind: type[ProblemError], code: str | None = None, meaning: str | None = None) -> ProblemPage:
        """The page of an error class (or of `code` raised as that class, with its own meaning)."""
        text = meaning or vars(kind).get("meaning") or inspect.getdoc(kind) or ""
        return cls(code or kind.code, kind.status, kind.title, " ".join(text.split()), kind.advice)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "type": PROBLEM_BASE + self.code}


def page(
    code: str,
    kind: type[ProblemError],
    meaning: str,
    advice: str | None = None,
    *,
    status: int | None = None,
    title: str | None = None,
) -> ProblemPage:
    """A page for a code raised as `kind(..., code=code)` (or with its own status and title)."""
    base = ProblemPage.of(kind, code, meaning)
    return ProblemPage(base.code, status or base.status, title or base.title, base.meaning, advice or base.advice)


def pages_of(module: ModuleType) -> dict[str, ProblemPage]:
    """The pages a module declares: its error classes with a code of their own, and PROBLEM_PAGES."""
    pages: dict[str, ProblemPage] = {}
    for _, kind in inspect.getmembers(module, inspect.isclass):
        if issubclass(kind, ProblemError) and kind.__module__ == module.__name__ and "code" in vars(kind):
            pages[kind.code] = ProblemPage.of(kind)
    for entry in getattr(module, "PROBLEM_PAGES", ()):
        pages[entry.code] = entry
    return pages


def catalogue(modules: Iterable[ModuleType]) -> dict[str, ProblemPage]:
    """Every page of `modules`, by code, sorted."""
    pages: dict[str, ProblemPage] = {}
    for module in modules:
        pages.update(pages_of(module))
    return dict(sorted(pages.items()))


_SIGN_IN_AGAIN = "Refresh the access token (POST /api/v1/auth/refresh) or sign in again, then retry."
_RETRY_LATER = "Retry after `Retry-After` seconds (a POST with the same Idempotency-Key)."

# Codes shared/ raises with `code=` rather than a class of their own, and those of the HTTP
# server's own refusals (shared.serving), made before any app reads the request.
PROBLEM_PAGES = (
    page(
        "uri_too_long",
        BadRequest,
        "The request line (method, path and query string) is longer than the server reads (4094 bytes).",
        "Send a shorter query: fewer or shorter parameters (a cursor is at most 512 characters).",
        status=414,
        title="URI Too Long",
    ),
    page(
        "request_header_fields_too_large",
        BadRequest,
        "A request header is longer than the server reads (8190 bytes), or there are too many of them.",
        "Send fewer and shorter headers.",
        status=431,
        title="Request Header Fields Too Large",
    ),
    page(
        "auth.token_missing", Unauthorized, "No bearer access token was sent.", "Send `Authorization: Bearer <token>`."
    ),
    page(
        "auth.token_invalid",
        Unauthorized,
        "The access token is malformed, or its signature, issuer or audience is wrong.",
        _SIGN_IN_AGAIN,
    ),
    page("auth.token_expired", Unauthorized, "The access token has expired (they last 15 minutes).", _SIGN_IN_AGAIN),
    page(
        "auth.token_revoked",
        Unauthorized,
        "The access token was revoked: its login signed out, its password changed, its refresh token was "
        "reused, or its roles changed.",
        "Refresh once; if refreshing fails too, sign in again.",
    ),
    page(
        "auth.revocation_unavailable",
        ServiceUnavailable,
        "Whether the token was revoked cannot be checked right now (Redis is down or lost the denylist), "
        "so no token is accepted.",
        _RETRY_LATER,
    ),
    page(
        "auth.jwks_unavailable", ServiceUnavailable, "The keys that verify tokens could not be fetched.", _RETRY_LATER
    ),
    page("database.unavailable", ServiceUnavailable, "The service's database is unreachable.", _RETRY_LATER),
    page("database.busy", ServiceUnavailable, "Every database connection of the service is busy.", _RETRY_LATER),
    page("redis.unavailable", ServiceUnavailable, "A backing store (Redis) is unreachable.", _RETRY_LATER),
    page("upstream.unavailable", ServiceUnavailable, "A service this request needed could not answer.", _RETRY_LATER),
    page(
        "upstream.circuit_open",
        ServiceUnavailable,
        "A service this request needs has been failing, and calls to it are refused for a few seconds "
        "(its circuit breaker is open).",
        _RETRY_LATER,
    ),
    page("not_ready", ServiceUnavailable, "The process cannot reach a dependency it needs (readiness).", _RETRY_LATER),
    page(
        "precondition.malformed",
        BadRequest,
        "An If-Match or If-None-Match header is neither `*` nor a list of quoted ETags.",
        "Send the ETag exactly as the ETag header gave it, quotes included.",
    ),
    page(
        "malformed_json",
        BadRequest,
        "The body is not valid JSON (or is nested absurdly deep); NaN and Infinity are not JSON.",
        "Send a valid JSON document.",
    ),
    page(
        "user.deleted",
        NotFound,
        "The user this request names has deleted their account.",
        "Drop the user from the client's state; do not retry.",
    ),
)
