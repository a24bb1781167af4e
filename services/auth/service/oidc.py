"""Sign-in with an ID token from a configured OpenID Connect provider."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.auth import errors
from services.auth.models import OidcIdentity, User, db
from services.auth.service.accounts import create_user
from services.auth.service.tokens import TokenPair, start_session
from shared.clock import utcnow
from shared.errors import ServiceUnavailable

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
LEEWAY_SECONDS = 30
_NAME = re.compile(r"\A[a-z0-9_-]{1,64}\Z")


@dataclass(frozen=True)
class Provider:
    """A provider the operator trusts: its issuer, our client id there, and where its keys are."""

    name: str
    issuer: str
    client_id: str
    jwks_uri: str


def parse_providers(value: str) -> dict[str, Provider]:
    """AUTH_OIDC_PROVIDERS: a JSON object, name → {issuer, client_id, jwks_uri}."""
    try:
        raw = json.loads(value or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object of providers")
    providers = {}
    for name, spec in raw.items():
        if not _NAME.match(name) or not isinstance(spec, dict):
            raise ValueError(f"provider {name!r}: a lowercase name mapping to an object")
        missing = [k for k in ("issuer", "client_id", "jwks_uri") if not isinstance(spec.get(k), str) or not spec[k]]
        if missing:
            raise ValueError(f"provider {name!r} needs {', '.join(missing)}")
        url = urlsplit(spec["jwks_uri"])
        if url.scheme != "https" and url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"provider {name!r}: jwks_uri must be https")
        providers[name] = Provider(name, spec["issuer"], spec["client_id"], spec["jwks_uri"])
    return providers


class IdTokenVerifier:
    """Checks an ID token's signature against its provider's JWKS (cached), and its iss, aud and exp."""

    def __init__(self, providers: dict[str, Provider], timeout: float = 3.0):
        self.providers = providers
        self.keys = {
            name: jwt.PyJWKClient(p.jwks_uri, cache_keys=True, lifespan=300, timeout=timeout)
            for name, p in providers.items()
        }

    def verify(self, provider_name: str, id_token: str) -> tuple[Provider, dict[str, Any]]:
        provider = self.providers.get(provider_name)
        if provider is None:
            raise errors.UnknownProvider("No such sign-in provider.")
        try:
            key = self.keys[provider_name].get_signing_key_from_jwt(id_token)
        except jwt.PyJWKClientConnectionError as exc:
            raise ServiceUnavailable(
                "The sign-in provider's keys could not be fetched.", code="auth.oidc_unavailable"
            ) from exc
        except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
            raise errors.InvalidIdToken("The ID token is not valid.") from exc
        try:
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=provider.client_id,
                issuer=provider.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise errors.InvalidIdToken("The ID token is not valid.") from exc
        return provider, claims


def _username_for(claims: dict[str, Any]) -> str:
    """A free username from the token's preferred_username or email, with a suffix if taken."""
    seed = claims.get("preferred_username") or str(claims.get("email", "")).split("@")[0] or "user"
    base = re.sub(r"[^A-Za-z0-9_]", "_", seed)[:24].strip("_") or "user"
    base = base if len(base) >= 3 else f"{base}_user"
    for candidate in [base, *(f"{base}_{secrets.randbelow(10**5):05d}" for _ in range(5))]:
        taken = db.session.execute(select(User.id).where(func.lower(User.username) == candidate.lower())).first()
        if taken is None:
            return candidate
    return f"user_{secrets.token_hex(8)}"


def sign_in(*, provider: Provider, claims: dict[str, Any], kid: str) -> tuple[User, TokenPair, bool]:
    """The account linked to (provider, sub), or a new one for a verified email no account uses.

    An email that already belongs to an account is never linked automatically: whoever controls
    the provider account would take over the HugMood account (409; sign in with the password).
    """
    identity = db.session.get(OidcIdentity, (provider.name, claims["sub"]))
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        if user is None or user.deleted_at is not None:
            raise errors.InvalidIdToken("This account no longer exists.")
        user.last_login = utcnow()
        pair = start_session(user=user, kid=kid)
        db.session.commit()
        return user, pair, False
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is not True:
        raise errors.OidcEmailUnverified("The provider did not vouch for an email address.")
    if db.session.execute(select(User.id).where(func.lower(User.email) == email.lower())).first() is not None:
        raise errors.EmailTaken("An account with that email exists; sign in with its password.")
    username = _username_for(claims)
    user = create_user(
        username=username,
        email=email,
        password=None,
        roles=["user"],
        display_name=str(claims.get("name") or username)[:100],
    )
    user.email_verified_at = utcnow()  # the provider vouched for it (email_verified, checked above)
    db.session.add(OidcIdentity(provider=provider.name, subject=claims["sub"], user_id=user.id))
    pair = start_session(user=user, kid=kid)
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same sub, email or username, signed in at the same moment
        db.session.rollback()
        raise errors.EmailTaken("That account was just created; sign in again.") from exc
    return user, pair, True
