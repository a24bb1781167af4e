"""Token families: access tokens, rotating refresh tokens, revocation, service identity."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_jwt_extended import create_access_token
from sqlalchemy import select, update

from services.auth import errors
from services.auth.models import RefreshToken, TokenFamily, User, db
from shared.auth import ACCESS_TOKEN_SECONDS, Denylist
from shared.clock import utcnow

REFRESH_TOKEN_LIFETIME = timedelta(days=7)


def token_hash(token: str) -> str:
    """Tokens are stored only as their SHA-256 (they carry 256 bits of entropy: no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str | None
    expires_in: int = ACCESS_TOKEN_SECONDS

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body


def access_token_for(
    *, subject: str, roles: list[str], family_id: uuid.UUID | None, kid: str, roles_version: int = 0
) -> str:
    """Sign an access token: 15 minutes, with kid, iss, aud and typ=at+jwt (RFC 9068). `rv` is the
    roles version the roles were read with: a role change refuses every token with a lower one."""
    claims: dict[str, Any] = {"roles": list(roles), "rv": roles_version}
    if family_id is not None:
        claims["fam"] = str(family_id)
    return create_access_token(
        identity=subject,
        additional_claims=claims,
        additional_headers={"kid": kid, "typ": "at+jwt"},
        fresh=False,
    )


def _new_refresh_token(family_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(
        RefreshToken(family_id=family_id, token_hash=token_hash(token), expires_at=utcnow() + REFRESH_TOKEN_LIFETIME)
    )
    return token


def start_session(*, user: User, kid: str) -> TokenPair:
    """A new login family with its first refresh token and an access token."""
    family = TokenFamily(id=uuid.uuid4(), user_id=user.id)
    db.session.add(family)
    db.session.flush()
    refresh = _new_refresh_token(family.id)
    access = access_token_for(
        subject=str(user.id), roles=user.roles, roles_version=user.roles_version, family_id=family.id, kid=kid
    )
    return TokenPair(access, refresh)


def rotate_refresh_token(*, refresh_token: str, denylist: Denylist, kid: str) -> TokenPair:
    """Trade a refresh token for a new pair; a reused (already rotated) token revokes its family."""
    row = db.session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token)).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise errors.InvalidRefreshToken()
    family = db.session.execute(
        select(TokenFamily).where(TokenFamily.id == row.family_id).with_for_update()
    ).scalar_one()
    user = db.session.get(User, family.user_id)
    if family.revoked_at is not None or user is None or user.deleted_at is not None:
        raise errors.InvalidRefreshToken()
    if row.rotated_at is not None:
        revoke_families(family_ids=[family.id], reason="reuse", denylist=denylist)
        db.session.commit()
        raise errors.InvalidRefreshToken()
    if row.expires_at <= utcnow():
        raise errors.InvalidRefreshToken()
    row.rotated_at = utcnow()
    refresh = _new_refresh_token(family.id)
    access = access_token_for(
        subject=str(user.id), roles=user.roles, roles_version=user.roles_version, family_id=family.id, kid=kid
    )
    db.session.commit()
    return TokenPair(access, refresh)


def revoke_families(*, family_ids: list[uuid.UUID], reason: str, denylist: Denylist) -> None:
    """Revoke login families: their refresh tokens in the database, their access tokens in Redis."""
    if not family_ids:
        return
    db.session.execute(
        update(TokenFamily)
        .where(TokenFamily.id.in_(family_ids), TokenFamily.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    denylist.revoke_families([str(f) for f in family_ids])


def live_families(user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> list[uuid.UUID]:
    query = select(TokenFamily.id).where(TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None))
    if keep is not None:
        query = query.where(TokenFamily.id != keep)
    return list(db.session.execute(query).scalars())


def logout(*, claims: dict[str, Any], denylist: Denylist) -> None:
    """End the caller's login: this access token and its whole family stop working at once."""
    remaining = int(claims["exp"] - time.time())
    denylist.revoke_token(claims["jti"], ttl=max(remaining, 1))
    if claims.get("fam"):
        revoke_families(family_ids=[uuid.UUID(claims["fam"])], reason="logout", denylist=denylist)
    db.session.commit()


# ---- service identity -------------------------------------------------------------------------


def parse_service_clients(value: str) -> dict[str, str]:
    """`name:secret,name:secret` → {name: secret}."""
    clients = {}
    for item in value.split(","):
        name, sep, secret = item.strip().partition(":")
        if not sep or not name or not secret:
            raise ValueError("expected name:secret pairs separated by commas")
        clients[name] = secret
    return clients


def service_token(*, client_id: str, client_secret: str, clients: dict[str, str], kid: str) -> TokenPair:
    """An access token for a HugMood service authenticating as itself (client_credentials)."""
    expected = clients.get(client_id)
    if expected is None or not hmac.compare_digest(expected.encode(), client_secret.encode()):
        raise errors.OAuthError("invalid_client", "Client authentication failed.", status=401)
    token = access_token_for(subject=f"service:{client_id}", roles=["service"], family_id=None, kid=kid)
    return TokenPair(token, None)
