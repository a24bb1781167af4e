"""Data rights across the fleet, assembled at the gateway from every service's own section.

- `GET /api/v1/account/export`: one JSON document, a key per service, each section fetched with the
  caller's own token from that service's `/internal/v1/account/export`; all or nothing.
- `GET /api/v1/admin/erasures/{user_id}`: for admins, the rows each service still holds that name
  a deleted user, plus the Redis keys that do. It reaches zero once every service has erased.
- After a `DELETE /api/v1/auth/account` succeeds, the gateway drops its own keys of that user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis
from flask import Blueprint, current_app, request

from gateway.proxy import Upstream, forward
from gateway.web import GatewayResponse, json_answer
from shared.api import utc_text
from shared.config import SERVICES
from shared.datarights import canonical_user_id
from shared.errors import Forbidden, NotFound, ProblemError, ServiceUnavailable, Unauthorized
from shared.openapi import operation

if TYPE_CHECKING:
    from gateway.app import Gateway

EXPORT_PATH = "/api/v1/account/export"
ERASURES_PREFIX = "/api/v1/admin/erasures/"
ACCOUNT_DELETION = ("DELETE", "/api/v1/auth/account")

data_rights = Blueprint("data_rights", __name__)


@data_rights.get(EXPORT_PATH)
@operation(
    "Everything the fleet holds about the caller: one section per service",
    description="All or nothing: if one service is down the answer is 503 `export.unavailable`.",
    response={"type": "object", "additionalProperties": True},
    errors=((503, "export.unavailable"),),
)
def export() -> GatewayResponse:
    gateway: Gateway = current_app  # type: ignore[assignment]
    status, document = gateway.data_rights.export(request._get_current_object())  # type: ignore[attr-defined]
    return json_answer(document, status)


@data_rights.get(ERASURES_PREFIX + "<user_id>")
@operation(
    "Admins: rows per service and Redis keys still naming a deleted user",
    response={"type": "object", "additionalProperties": True},
    errors=(Forbidden, NotFound),
)
def erasure_report(user_id: str) -> GatewayResponse:
    gateway: Gateway = current_app  # type: ignore[assignment]
    status, report = gateway.data_rights.erasure_report(request._get_current_object(), user_id)  # type: ignore[attr-defined]
    return json_answer(report, status)


class DataRights:
    """The gateway's data-rights endpoints; `claims_of` verifies the caller (and meters them)."""

    def __init__(
        self,
        upstreams: dict[str, Upstream],
        client: redis.Redis,
        claims_of: Callable[[Any], dict[str, Any] | None],
    ):
        self.upstreams = upstreams
        self.redis = client
        self.claims_of = claims_of

    def _caller(self, req: Any) -> dict[str, Any]:
        claims = self.claims_of(req)
        if claims is None:
            raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
        return claims

    def _fetch_all(self, req: Any, path: str) -> dict[str, tuple[int, Any]]:
        """GET `path` from every service at once, with the caller's token; (status, body) per service."""
        headers = {
            "Authorization": req.environ.get("HTTP_AUTHORIZATION", ""),
            "X-Request-ID": req.request_id,
            "Accept": "application/json",
        }

        def fetch(service: str) -> tuple[int, Any]:
            try:
                forwarded = forward(self.upstreams[service], "GET", path, headers, None)
                raw = b"".join(forwarded)
            except ProblemError as exc:
                return exc.status, None
            try:
                return forwarded.status, json.loads(raw) if raw else None
            except ValueError:
                return 502, None

        with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
            return dict(zip(SERVICES, pool.map(fetch, SERVICES), strict=True))

    def export(self, req: Any) -> tuple[int, Any]:
        """Everything the fleet holds about the caller, one section per service."""
        claims = self._caller(req)
        answers = self._fetch_all(req, "/internal/v1/account/export")
        missing = [service for service, (status, body) in answers.items() if status != 200 or body is None]
        if missing:
            # A partial export would look complete to the user: refuse it, and say who is missing.
            raise ServiceUnavailable(
                f"Your data cannot be exported right now ({', '.join(missing)} unavailable); try again shortly.",
                retry_after=5,
                code="export.unavailable",
            )
        document: dict[str, Any] = {
            "user_id": claims["sub"],
            "exported_at": utc_text(datetime.now(UTC)),
        }
        document.update({service: body for service, (_, body) in answers.items()})
        return 200, document

    def erasure_report(self, req: Any, user_id: str) -> tuple[int, Any]:
        """What each service, and Redis, still holds naming `user_id`."""
        claims = self._caller(req)
        if "admin" not in claims.get("roles", ()):
            raise Forbidden("Erasure reports are for administrators.")
        user = canonical_user_id(user_id)
        answers = self._fetch_all(req, f"/internal/v1/erasures/{user}")
        services: dict[str, Any] = {}
        for service, (status, body) in answers.items():
            if status == 200 and isinstance(body, dict):
                services[service] = {"status": "ok", **{k: body[k] for k in ("erased", "rows", "total")}}
            else:
                services[service] = {"status": "unavailable"}
        keys = self.keys_naming(user)
        reachable = all(entry["status"] == "ok" for entry in services.values())
        rows = sum(entry.get("total", 0) for entry in services.values())
        return 200, {
            "user_id": user,
            "services": services,
            "redis_keys": len(keys),
            "remaining": rows + len(keys),
            "complete": reachable and rows == 0 and not keys,
        }

    def keys_naming(self, user: str) -> list[bytes]:
        """Every Redis key with the user id in its name (a full scan: an admin's occasional check)."""
        return list(self.redis.scan_iter(match=f"*{user}*", count=1000))

    def account_deleted(self, user: str) -> None:
        """The caller's account is gone: drop the gateway's own keys of them (their rate-limit
        windows, and the answers kept for their Idempotency-Keys, which may hold their data).

        Revoked tokens no longer count against a bucket (see ratelimit.LUA), so none come back.
        Best effort: if Redis fails now the windows expire on their own within a minute or two.
        """
        try:
            keys = [
                key
                for pattern in (f"hm:rl:user:{user}:*", f"hm:idem:user:{user}:*")
                for key in self.redis.scan_iter(match=pattern, count=1000)
            ]
            if keys:
                self.redis.delete(*keys)
        except redis.RedisError:
            pass
