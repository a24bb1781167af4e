"""The auth section of the caller's data export: the account, its sign-in identities and sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.auth.models import OidcIdentity, PasswordResetToken, TokenFamily, db
from services.auth.service.accounts import get_user
from services.auth.service.passwords import NO_PASSWORD
from shared.api import utc_text


def export_account(user_id: str) -> dict[str, Any]:
    """The auth section of the caller's data export: the account, its sign-in identities and sessions."""
    user = get_user(user_id)
    identities = db.session.execute(
        select(OidcIdentity).where(OidcIdentity.user_id == user.id).order_by(OidcIdentity.created_at)
    ).scalars()
    families = db.session.execute(
        select(TokenFamily).where(TokenFamily.user_id == user.id).order_by(TokenFamily.created_at)
    ).scalars()
    resets = db.session.execute(
        select(PasswordResetToken).where(PasswordResetToken.user_id == user.id).order_by(PasswordResetToken.created_at)
    ).scalars()

    return {
        "account": {
            "id": str(user.id),
            "username": user.username,
            "email": user.email,
            "email_verified_at": utc_text(user.email_verified_at),
            "roles": list(user.roles),
            "has_password": user.password_hash != NO_PASSWORD,
            "created_at": utc_text(user.created_at),
            "last_login": utc_text(user.last_login),
            "password_changed_at": utc_text(user.password_changed_at),
        },
        "oidc_identities": [
            {"provider": i.provider, "subject": i.subject, "created_at": utc_text(i.created_at)} for i in identities
        ],
        "sessions": [
            {
                "id": str(f.id),
                "created_at": utc_text(f.created_at),
                "revoked_at": utc_text(f.revoked_at),
                "revoked_reason": f.revoked_reason,
            }
            for f in families
        ],
        "password_resets": [
            {
                "requested_at": utc_text(r.created_at),
                "expires_at": utc_text(r.expires_at),
                "used_at": utc_text(r.used_at),
            }
            for r in resets
        ],
    }
