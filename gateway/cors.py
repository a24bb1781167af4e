"""CORS for browsers on other origins: preflights answered here, allowed origins named on answers."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

# What a browser may send and read across origins (API.md, Conventions).
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-ID"
EXPOSED_HEADERS = (
    "X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, ETag, Location, "
    "Idempotent-Replayed"
)
# How long a browser may reuse a preflight's answer (Chromium caps it at 7200).
MAX_AGE_SECONDS = 600


def parse_origins(value: str) -> frozenset[str]:
    """GATEWAY_CORS_ORIGINS: a comma-separated list of origins (`scheme://host[:port]`), or empty.
    No wildcard: an origin is allowed by name only."""
    origins = set()
    for raw in value.split(","):
        origin = raw.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
        origins.add(origin.lower())
    return frozenset(origins)


def is_preflight(environ: dict) -> bool:
    """An OPTIONS a browser sends before a cross-origin request (Fetch standard, CORS preflight)."""
    return (
        environ.get("REQUEST_METHOD") == "OPTIONS"
        and "HTTP_ORIGIN" in environ
        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
    )


class Cors:
    """The allow-list and the headers it puts on answers. Empty: no CORS header is ever sent."""

    def __init__(self, origins: Iterable[str]):
        self.origins = frozenset(origins)

    @property
    def enabled(self) -> bool:
        return bool(self.origins)

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin.lower() in self.origins

    def preflight_headers(self, origin: str) -> list[tuple[str, str]]:
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", ALLOWED_METHODS),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", str(MAX_AGE_SECONDS)),
            ("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]

    def answer_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """What an ordinary answer carries: the origin and exposed headers when it is allowed, and
        `Vary: Origin` whenever CORS is on (a shared cache must not hand one origin's answer to another)."""
        if not self.enabled:
            return []
        if not self.allows(origin):
            return [("Vary", "Origin")]
        return [
            ("Access-Control-Allow-Origin", origin or ""),
            ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
            ("Vary", "Origin"),
        ]
