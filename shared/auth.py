"""Access-token verification against the auth service's JWKS, and the Redis denylist."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
import redis
import requests
from flask import Flask, g, request

from shared.errors import Forbidden, ServiceUnavailable, Unauthorized

ALGORITHMS = ["RS256"]
ACCESS_TOKEN_TYP = "at+jwt"
ACCESS_TOKEN_SECONDS = 15 * 60


log = logging.getLogger("hugmood.auth")


class JwksKeys:
    """The auth service's public keys by `kid`, fetched lazily and refreshed on unknown kids.

    With url=None the keys are only those given to load() (the auth service verifies its own).
    """

    def __init__(self, url: str | None, ttl: float = 300, min_refetch: float = 5.0, timeout: float = 3.0):
        self.url = url
        self.ttl = ttl
        self.min_refetch = min_refetch
        self.timeout = timeout
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False

    def load(self, jwks: dict[str, Any]) -> None:
        """Install a JWKS document (also used by the auth service, which holds its own keys)."""
        keys = {}
        for entry in jwks.get("keys", []):
            if entry.get("use", "sig") == "sig" and "kid" in entry:
                keys[entry["kid"]] = jwt.PyJWK(entry).key
        self._keys = keys
        self._fetched_at = time.monotonic()

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._fetched_at < self.min_refetch:
                return
            try:
                response = self._session.get(self.url, timeout=self.timeout)
                response.raise_for_status()
                self.load(response.json())
            except (requests.RequestException, ValueError, jwt.PyJWTError) as exc:
                self._fetched_at = time.monotonic()
                if not self._keys:
                    raise ServiceUnavailable(
                        "Token keys are unavailable; try again shortly.", code="auth.jwks_unavailable"
                    ) from exc

    def get(self, kid: str | None) -> Any:
        """The public key for `kid`; 401 if the auth service does not know it."""
        if self.url and (time.monotonic() - self._fetched_at > self.ttl or kid not in self._keys):
            self._refresh()
        key = self._keys.get(kid or "")
        if key is None:
            raise Unauthorized("The access token is signed by an unknown key.", code="auth.token_invalid")
        return key


def decode_access_token(token: str, keys: JwksKeys, *, issuer: str, audience: str) -> dict[str, Any]:
    """Verify signature, expiry, issuer, audience and type of an access token; return its claims."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != ACCESS_TOKEN_TYP or header.get("alg") not in ALGORITHMS:
            raise Unauthorized("The access token is invalid.", code="auth.token_invalid")
        claims = jwt.decode(
            token,
            keys.get(header.get("kid")),
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The access token has expired.", code="auth.token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The access token is invalid.", code="auth.token_invalid") from exc
    if claims.get("type") != "access":
        raise Unauthorized("The access token is invalid.", code="auth.token_invalid")
    return claims


# The claims anything reads after verification (iss, aud, nbf and type are checked by it). Only these
# are kept, cached or not: each held long poll keeps its token's entry for as long as it waits.
KEPT_CLAIMS = ("sub", "roles", "rv", "iat", "exp", "jti", "fam")


class TokenVerifier:
    """Verifies access tokens; a verified token is remembered until it expires (a dict lookup
    instead of an RSA signature check and JSON parsing on every request). Revocation is still
    checked on every request.

    The memory is keyed by the token's SHA-256, not the token: a held long poll keeps its
    token's entry for as long as it waits, and 32 bytes are a fortieth of an access token."""

    def __init__(self, keys: JwksKeys, *, issuer: str, audience: str, max_entries: int = 50_000):
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.max_entries = max_entries
        self._cache: dict[bytes, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """Claims of the bearer token in this Authorization header; 401 otherwise."""
        if not authorization:
            raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 4096:
            raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
        key = hashlib.sha256(token.encode()).digest()
        claims = self._cache.get(key)
        now = time.time()
        if claims is not None and claims["exp"] > now:
            return claims
        decoded = decode_access_token(token, self.keys, issuer=self.issuer, audience=self.audience)
        claims = {name: decoded[name] for name in KEPT_CLAIMS if name in decoded}
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache = {t: c for t, c in self._cache.items() if c["exp"] > now}
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
            self._cache[key] = claims
        return claims


class RevocationsNotLoaded(redis.RedisError):
    """Redis answers but does not hold the denylist (it restarted empty): revocation is unknown."""


class Denylist:
    """Revocations that take effect at once everywhere: by token, by login family, by user.

    The auth service also keeps every revocation in PostgreSQL until it can no longer matter, and
    writes them all back into a Redis that lost them; it sets READY once they are in. A Redis without
    READY (restarted empty, or flushed) cannot say whether a token was revoked, so it is treated like
    a Redis that is down: fail closed.
    """

    PREFIX = "hm:deny:"
    READY = "hm:deny:ready"
    # Raises a user's lowest valid roles version, never lowers it (role changes may land out of order).
    # A lower mark's lifetime does not matter: every token below the higher one expires within its own.
    RAISE = (
        "local c = redis.call('GET', KEYS[1]) "
        "if not c or tonumber(c) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end"
    )

    def __init__(self, client: redis.Redis):
        self.redis = client

    @classmethod
    def keys_for(cls, claims: dict[str, Any]) -> list[str]:
        """The three keys that may revoke a token with these claims."""
        return [
            f"{cls.PREFIX}jti:{claims.get('jti')}",
            f"{cls.PREFIX}fam:{claims.get('fam', '-')}",
            f"{cls.PREFIX}ver:{claims.get('sub')}",
        ]

    @staticmethod
    def revoked_by(claims: dict[str, Any], values: Iterable[Any]) -> bool:
        """Decide from the values stored under keys_for(claims)."""
        jti, fam, lowest_version = values
        if jti is not None or fam is not None:
            return True
        return lowest_version is not None and int(claims.get("rv", 0)) < int(lowest_version)

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        """True if the token was revoked; 503 when Redis cannot say (fail closed)."""
        try:
            *values, ready = self.redis.mget([*self.keys_for(claims), self.READY])
            if ready is None:
                raise RevocationsNotLoaded("the denylist has not been loaded into this Redis")
        except redis.RedisError as exc:
            log.warning("denylist unavailable: %s: %s", type(exc).__name__, exc)
            raise ServiceUnavailable(
                "Token revocation cannot be checked right now.", code="auth.revocation_unavailable"
            ) from exc
        return self.revoked_by(claims, values)

    def mark_ready(self) -> None:
        """Say that every revocation still in force is in this Redis."""
        self.redis.set(self.READY, 1)

    def revoke_token(self, jti: str, ttl: int = ACCESS_TOKEN_SECONDS) -> None:
        """Revoke one access token."""
        self.redis.set(f"{self.PREFIX}jti:{jti}", 1, ex=max(ttl, 1))

    def revoke_families(self, family_ids: Iterable[str], ttl: int = ACCESS_TOKEN_SECONDS) -> None:
        """Revoke every access token of these login families."""
        pipe = self.redis.pipeline(transaction=False)
        for family_id in family_ids:
            pipe.set(f"{self.PREFIX}fam:{family_id}", 1, ex=ttl)
        pipe.execute()

    def revoke_roles_below(self, user_id: str, version: int, ttl: int = ACCESS_TOKEN_SECONDS, pipe: Any = None) -> None:
        """Revoke every access token of a user whose roles version (`rv`) is below `version`."""
        (pipe or self.redis).eval(self.RAISE, 1, f"{self.PREFIX}ver:{user_id}", int(version), max(int(ttl), 1))


@dataclass(frozen=True)
class Identity:
    """Who the verified token says is calling."""

    subject: str
    roles: tuple[str, ...]

    @property
    def is_service(self) -> bool:
        return self.subject.startswith("service:")

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def user_id(self) -> str:
        if self.is_service:
            raise Forbidden("This endpoint is for users, not services.")
        return self.subject


def current_identity() -> Identity:
    """The identity verified for this request."""
    identity = g.get("identity")
    if identity is None:
        raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
    return identity


def current_user_id() -> uuid.UUID:
    """The id of the user calling (403 for a service identity)."""
    return uuid.UUID(current_identity().user_id)


def current_claims() -> dict[str, Any]:
    """The verified claims of this request's access token."""
    current_identity()
    return g.jwt_claims


def require_service(*names: str) -> Identity:
    """Allow only service identities (optionally only the named services)."""
    identity = current_identity()
    if not identity.is_service or (names and identity.subject.split(":", 1)[1] not in names):
        raise Forbidden("Only HugMood services may call this endpoint.")
    return identity


def require_admin() -> Identity:
    """Allow only users with the admin role."""
    identity = current_identity()
    if not identity.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return identity


def init_token_verification(
    app: Flask,
    *,
    keys: JwksKeys,
    denylist: Denylist,
    issuer: str,
    audience: str,
    is_public: Callable[[str | None], bool],
) -> None:
    """Make every non-public endpoint of `app` demand a valid, unrevoked access token.

    Verification is our own rather than flask-jwt-extended's, so that a verified token can be
    cached until it expires; flask-jwt-extended only signs tokens, in the auth service.
    """
    verifier = TokenVerifier(keys, issuer=issuer, audience=audience)

    @app.before_request
    def _authenticate() -> None:
        if request.method == "OPTIONS" or is_public(request.endpoint):
            return
        claims = verifier.verify(request.headers.get("Authorization"))
        if denylist.is_revoked(claims):
            raise Unauthorized("The access token has been revoked.", code="auth.token_revoked")
        g.jwt_claims = claims
        g.identity = Identity(subject=str(claims["sub"]), roles=tuple(claims.get("roles", ())))
        g.user_id = g.identity.subject
