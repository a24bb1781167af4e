"""The service registry: which service owns which path prefix, and which routes are public."""

from __future__ import annotations

from dataclasses import dataclass

API = "/api/v1/"


@dataclass(frozen=True)
class Route:
    """A path prefix under /api/v1/ and the service that owns it."""

    prefix: str
    service: str
    long_poll: bool = False


ROUTES: tuple[Route, ...] = (
    Route("/api/v1/auth/", "auth"),
    Route("/api/v1/users/", "user"),
    Route("/api/v1/moods", "mood"),
    Route("/api/v1/analytics/", "mood"),
    Route("/api/v1/content", "mood"),
    Route("/api/v1/hugs", "hug"),
    Route("/api/v1/notifications/poll", "notification", long_poll=True),
    Route("/api/v1/notifications", "notification"),
    Route("/api/v1/devices", "notification"),
    Route("/api/v1/social/", "social"),
)

# The GraphQL gateway (a process of its own, GRAPHQL_URL): /graphql and the paths below it.
GRAPHQL = Route("/graphql", "graphql")

# (method, path) pairs reachable without an access token.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/password/reset"),
        ("POST", "/api/v1/auth/password/reset/confirm"),
        ("POST", "/api/v1/auth/email/verify"),
        ("GET", "/api/v1/auth/jwks"),
        ("POST", "/api/v1/auth/oauth/{provider}"),
        ("GET", "/api/v1/social/shared/{token}"),
        ("GET", "/graphql/schema.graphql"),
    }
)

# Reachable without a token, but a token that is sent is checked like anywhere else: GraphQL's
# login and register need none, and the GraphQL gateway refuses every other field without one.
TOKEN_OPTIONAL: frozenset[tuple[str, str]] = frozenset({("POST", "/graphql"), ("GET", "/graphql")})

# Routes an attacker would hammer: a stricter per-IP limit that holds even when Redis is down.
STRICT: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/register"): "register",
    ("POST", "/api/v1/auth/login"): "login",
    ("POST", "/api/v1/auth/token"): "login",
    ("POST", "/api/v1/auth/password/reset"): "reset",
    ("POST", "/api/v1/auth/password/reset/confirm"): "reset",
    ("POST", "/api/v1/auth/email/verify"): "reset",
    ("POST", "/api/v1/auth/email/verify/resend"): "reset",
    ("POST", "/api/v1/auth/oauth/{provider}"): "login",
}

OAUTH_PREFIX = "/api/v1/auth/oauth/"
SHARED_PREFIX = "/api/v1/social/shared/"
# Paths whose last segment is a variable: prefix -> its template.
_TEMPLATES: dict[str, str] = {OAUTH_PREFIX: OAUTH_PREFIX + "{provider}", SHARED_PREFIX: SHARED_PREFIX + "{token}"}


def access_key(method: str, path: str) -> tuple[str, str]:
    """The (method, path) key of PUBLIC and STRICT: a path with a provider id or share token maps to its template."""
    for prefix, template in _TEMPLATES.items():
        rest = path[len(prefix) :]
        if path.startswith(prefix) and "/" not in rest:
            return method, template
    return method, path


# Routes that take a file upload (multipart/form-data, up to shared.app.MAX_UPLOAD_BYTES).
UPLOADS: frozenset[tuple[str, str]] = frozenset({("POST", "/api/v1/moods/import")})

TOKEN = ("POST", "/api/v1/auth/token")
SHARED_VIEW = ("GET", SHARED_PREFIX + "{token}")
# Bodies of these may be form-encoded (RFC 6749 token requests).
FORM_BODIES: frozenset[tuple[str, str]] = frozenset({TOKEN})

_BY_SEGMENT: dict[str, tuple[Route, ...]] = {}
for _route in ROUTES:
    _segment = _route.prefix[len(API) :].split("/", 1)[0]
    _BY_SEGMENT[_segment] = (*_BY_SEGMENT.get(_segment, ()), _route)


def match(path: str) -> Route | None:
    """The route owning `path`, by its first segment after /api/v1/, longest prefix first."""
    if path == GRAPHQL.prefix or path.startswith(GRAPHQL.prefix + "/"):
        return GRAPHQL
    if not path.startswith(API):
        return None
    segment = path[len(API) :].split("/", 1)[0]
    for route in _BY_SEGMENT.get(segment, ()):
        if path.startswith(route.prefix) or path == route.prefix.rstrip("/"):
            return route
    return None


def prefixes_of(service: str) -> list[str]:
    """The prefixes a service owns (for the registry)."""
    return [route.prefix for route in ROUTES if route.service == service]
