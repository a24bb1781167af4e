"""Email verification: a single-use, expiring token for the account's address goes out by email
(EmailVerificationRequested, which the notification service sends); confirming it marks the
address verified. Until then the notification service sends the address nothing else but
password resets."""

from __future__ import annotations

import math
import secrets
import uuid
from datetime import UTC, timedelta

from sqlalchemy import func, select, update

from services.auth import errors
from services.auth.models import EmailVerificationToken, OutboxEvent, User, db
from services.auth.service.tokens import token_hash
from shared.clock import utcnow
from shared.events import publish

TOKEN_LIFETIME = timedelta(hours=24)
# Verification emails one account may be sent per window (the one at registration included):
# each goes to an address nobody has confirmed yet.
SEND_LIMIT = 3
SEND_WINDOW = timedelta(hours=1)


def issue(user: User) -> None:
    """Add a verification token for the user's current address, and the event that emails it, to
    the caller's transaction (not committed here); the user's earlier unused tokens stop working."""
    now = utcnow()
    db.session.execute(
        update(EmailVerificationToken)
        .where(EmailVerificationToken.user_id == user.id, EmailVerificationToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    expires = now + TOKEN_LIFETIME
    db.session.add(
        EmailVerificationToken(
            user_id=user.id, email=user.email, token_hash=token_hash(token), created_at=now, expires_at=expires
        )
    )
    publish(
        db.session,
        OutboxEvent,
        "EmailVerificationRequested",
        {"user_id": str(user.id), "email": user.email, "token": token, "expires_at": expires.isoformat()},
    )


def resend(*, user_id: str) -> None:
    """Send the signed-in user a new verification email: 409 if the address is verified already,
    429 with Retry-After past SEND_LIMIT emails in SEND_WINDOW."""
    user = db.session.execute(
        select(User).where(User.id == uuid.UUID(str(user_id))).with_for_update()  # serializes the count
    ).scalar_one_or_none()
    if user is None or user.deleted_at is not None:
        raise errors.UserNotFound("No such user.")
    if user.email_verified_at is not None:
        raise errors.EmailAlreadyVerified("Your email address is verified already.")
    now = utcnow()
    count, oldest = db.session.execute(
        select(func.count(), func.min(EmailVerificationToken.created_at)).where(
            EmailVerificationToken.user_id == user.id, EmailVerificationToken.created_at > now - SEND_WINDOW
        )
    ).one()
    if count >= SEND_LIMIT:
        retry_after = max(1, math.ceil((oldest.astimezone(UTC) + SEND_WINDOW - now).total_seconds()))
        raise errors.VerificationThrottled(retry_after)
    issue(user)
    db.session.commit()


def confirm(*, token: str) -> None:
    """Verify the address a token was issued for: once, before it expires, and only while it is
    still its account's address; any other token is one generic 422."""
    row = db.session.execute(
        select(EmailVerificationToken).where(EmailVerificationToken.token_hash == token_hash(token)).with_for_update()
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise errors.InvalidVerificationToken()
    user = db.session.get(User, row.user_id, with_for_update=True)
    if user is None or user.deleted_at is not None or user.email.lower() != row.email.lower():
        raise errors.InvalidVerificationToken()
    row.used_at = now
    user.email_verified_at = user.email_verified_at or now
    db.session.commit()
