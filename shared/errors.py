"""Problem details (RFC 9457): the one error shape of every HugMood process."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from flask import Response, g, has_request_context
from flask_jwt_extended.exceptions import JWTExtendedException, NoAuthorizationError, RevokedTokenError
from jwt.exceptions import ExpiredSignatureError, PyJWTError
from marshmallow import ValidationError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from shared.sqlstate import is_erasure_refusal

PROBLEM_JSON = "application/problem+json"
# A problem's `type` is this + its code: the page the gateway serves for that code (shared.problems).
# A relative reference, resolved against the URL the client called (the gateway's), so every
# process writes the same `type` whatever the public host is called.
PROBLEM_BASE = "/api/v1/problems/"
log = logging.getLogger("hugmood.errors")


class ProblemError(Exception):
    """Base of every error a HugMood process raises on purpose; `code` is stable for clients."""

    status = 500
    code = "internal_error"
    title = "Internal Server Error"
    # What the code means and what a client should do (its page, shared.problems); a subclass
    # says what it means in its docstring.
    meaning = "Something failed on the server's side; nothing the client sent caused it."
    advice = "Retry later; if it persists, report the request_id."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        if code:
            self.code = code


class BadRequest(ProblemError):
    """The request could not be understood (its framing or syntax is wrong)."""

    status, code, title = 400, "bad_request", "Bad Request"
    advice = "Fix the request as `detail` says; sending it again unchanged fails again."


class Unauthorized(ProblemError):
    """The request needs a valid access token and has none that is good."""

    status, code, title = 401, "unauthorized", "Unauthorized"
    advice = "Refresh the access token (POST /api/v1/auth/refresh) or sign in again, then retry."

    def __init__(self, detail: str | None = None, **kwargs: Any):
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="hugmood"'})
        super().__init__(detail, **kwargs)


class Forbidden(ProblemError):
    """The caller is signed in but may not do this (another user's object, a role it lacks, or a
    service-only endpoint called with a user's token)."""

    status, code, title = 403, "forbidden", "Forbidden"
    advice = "Do not retry: the answer will not change until the caller's rights do."


class NotFound(ProblemError):
    """No endpoint or object answers to this path (or the caller may not know it exists)."""

    status, code, title = 404, "not_found", "Not Found"
    advice = "Check the path and the id; do not retry."


class MethodNotAllowed(ProblemError):
    """The path exists but does not take this method."""

    status, code, title = 405, "method_not_allowed", "Method Not Allowed"
    advice = "Use one of the methods the `Allow` header lists."


class Conflict(ProblemError):
    """The request conflicts with the current state of the object (a duplicate, most often)."""

    status, code, title = 409, "conflict", "Conflict"
    advice = "Read the current state, then decide; retrying unchanged gives the same answer."


class RequestTimeout(ProblemError):
    """The request body did not arrive in time (GATEWAY_BODY_TIMEOUT_SECONDS)."""

    status, code, title = 408, "request_timeout", "Request Timeout"
    advice = "Send the whole body promptly; retrying is safe."


class PreconditionFailed(ProblemError):
    """The object changed since the version named in If-Match (someone else saved first)."""

    status, code, title = 412, "precondition.failed", "Precondition Failed"
    advice = "GET the object again, reapply the change to what it is now, and send it with its new ETag."


class PayloadTooLarge(ProblemError):
    """The body is over 64 KiB."""

    status, code, title = 413, "payload_too_large", "Payload Too Large"
    advice = "Send a smaller body (at most 65,536 bytes)."


class UnsupportedMediaType(ProblemError):
    """The body is not JSON (or, for the token endpoint, not a form either)."""

    status, code, title = 415, "unsupported_media_type", "Unsupported Media Type"
    advice = "Send `Content-Type: application/json` with a JSON body."


class ValidationFailed(ProblemError):
    """Well-formed JSON (or query string) whose values fail validation; unknown fields included.
    `errors` maps each field to its messages."""

    status, code, title = 422, "validation_failed", "Unprocessable Content"
    advice = "Correct the fields named in `errors`; do not retry unchanged."


class TooManyRequests(ProblemError):
    """The caller's rate limit (per address, per user, or the stricter one of sign-in routes) is
    spent for this window."""

    status, code, title = 429, "rate_limited", "Too Many Requests"
    advice = "Wait the seconds `Retry-After` gives, then retry; watch `RateLimit-Remaining` to stay under."


class BadGateway(ProblemError):
    """A service behind the one you called could not be reached."""

    status, code, title = 502, "bad_gateway", "Bad Gateway"
    advice = "Retry after a short back-off (a POST with the same Idempotency-Key)."


class ServiceUnavailable(ProblemError):
    """A service or a dependency is down or shedding load for now."""

    status, code, title = 503, "service_unavailable", "Service Unavailable"
    advice = "Retry after `Retry-After` seconds (a POST with the same Idempotency-Key)."

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **kwargs: Any):
        kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail, **kwargs)


class GatewayTimeout(ProblemError):
    """A service behind the one you called did not answer in time; the request may or may not
    have taken effect."""

    status, code, title = 504, "gateway_timeout", "Gateway Timeout"
    advice = "Retry with the same Idempotency-Key (POST), or read the object before repeating a change."


def problem_body(
    status: int,
    title: str,
    detail: str,
    code: str,
    errors: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> bytes:
    """Serialize one problem document."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = errors
    return json.dumps(body).encode()


def _request_id() -> str | None:
    return getattr(g, "request_id", None) if has_request_context() else None


def problem_response(error: ProblemError) -> Response:
    """Render a ProblemError as an application/problem+json response."""
    body = problem_body(error.status, error.title, error.detail, error.code, error.errors, _request_id())
    response = Response(body, status=error.status, mimetype=PROBLEM_JSON)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


_HTTP_CODES = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: TooManyRequests,
}


def _jwt_problem(exc: Exception) -> ProblemError | None:
    """Map flask-jwt-extended and PyJWT failures to 401 (they otherwise surface as 500)."""
    if isinstance(exc, ExpiredSignatureError):
        return Unauthorized("The access token has expired.", code="auth.token_expired")
    if isinstance(exc, RevokedTokenError):
        return Unauthorized("The access token has been revoked.", code="auth.token_revoked")
    if isinstance(exc, NoAuthorizationError):
        return Unauthorized("A bearer access token is required.", code="auth.token_missing")
    if isinstance(exc, JWTExtendedException | PyJWTError):
        return Unauthorized("The access token is invalid.", code="auth.token_invalid")
    return None


def to_problem(exc: BaseException) -> ProblemError:
    """Turn any exception into the ProblemError a client should see."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, ValidationError):
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return ValidationFailed("The request did not pass validation.", errors=messages)
    jwt_problem = _jwt_problem(exc) if isinstance(exc, Exception) else None
    if jwt_problem is not None:
        return jwt_problem
    if isinstance(exc, HTTPException) and exc.code in (301, 308):
        # Werkzeug's routing redirects a path with "//" (or a missing trailing slash) to its
        # canonical form on this process's own host, which a client behind the gateway cannot use.
        return NotFound("No such endpoint.")
    if isinstance(exc, HTTPException) and exc.code in _HTTP_CODES:
        problem = _HTTP_CODES[exc.code](exc.description)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            problem.headers["Allow"] = ", ".join(exc.valid_methods)
        return problem
    if isinstance(exc, HTTPException) and exc.code and 400 <= exc.code < 500:
        problem = BadRequest(exc.description)
        problem.status, problem.title = exc.code, exc.name
        return problem
    if is_erasure_refusal(exc):
        # A write naming a user who deleted their account while it was in flight (psycopg2 raises
        # it as an OperationalError, so this goes before the dependency check).
        return NotFound("No such user: the account has been deleted.", code="user.deleted")
    unavailable = _dependency_problem(exc)
    if unavailable is not None:
        return unavailable
    log.exception("unhandled error", exc_info=exc)
    return ProblemError("An unexpected error occurred; it has been logged.")


def _dependency_problem(exc: BaseException) -> ProblemError | None:
    """A database or Redis that is down, saturated or too slow is a 503 the client may retry, not a 500."""
    if isinstance(exc, sa_exc.TimeoutError):
        log.warning("database pool exhausted")
        return ServiceUnavailable("The service is busy; try again shortly.", retry_after=1, code="database.busy")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        log.warning("database unavailable", exc_info=exc)
        return ServiceUnavailable("The database is unavailable.", code="database.unavailable")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        log.warning("redis unavailable", exc_info=exc)
        return ServiceUnavailable("A backing service is unavailable.", code="redis.unavailable")
    return None


def handle_exception(exc: BaseException) -> Response:
    """Flask error handler: every exception becomes a problem+json response."""
    return problem_response(to_problem(exc))
