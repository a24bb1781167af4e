"""Accounts: registration, login, password change and reset, roles, the admin."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from services.auth import errors
from services.auth.models import USER_DATA, OutboxEvent, PasswordResetToken, TokenFamily, User, db
from services.auth.service import verification
from services.auth.service.passwords import DUMMY_HASH, NO_PASSWORD, passwords
from services.auth.service.throttle import Attempt, DeviceTokens, LoginThrottle
from services.auth.service.tokens import TokenPair, live_families, revoke_families, start_session, token_hash
from shared.auth import Denylist
from shared.clock import utcnow
from shared.db import outside_transaction
from shared.events import RELAY_CHANNEL, publish

RESET_TOKEN_LIFETIME = timedelta(hours=1)


def create_user(*, username: str, email: str, password: str | None, roles: list[str], display_name: str) -> User:
    """Insert an account and announce it (UserRegistered) in the same transaction (no password: OIDC only)."""
    password_hash = passwords.hash(password) if password is not None else NO_PASSWORD
    user = User(id=uuid.uuid4(), username=username, email=email, roles=roles, password_hash=password_hash)
    db.session.add(user)
    db.session.flush()
    publish(
        db.session,
        OutboxEvent,
        "UserRegistered",
        {
            "user_id": str(user.id),
            "username": username,
            "display_name": display_name,
        },
    )
    return user


def register(*, data: dict[str, Any], kid: str) -> tuple[User, TokenPair]:
    """Create an account and its first session; UserRegistered and the address's verification
    email go out through the outbox."""
    username, email = data["username"], data["email"].strip()
    taken = db.session.execute(
        select(User.id).where(
            or_(func.lower(User.username) == username.lower(), func.lower(User.email) == email.lower())
        )
    ).first()
    if taken is not None:
        raise errors.AccountTaken()
    user = create_user(
        username=username,
        email=email,
        password=data["password"],
        roles=["user"],
        display_name=data.get("display_name") or username,
    )
    verification.issue(user)
    pair = start_session(user=user, kid=kid)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if getattr(exc.orig, "pgcode", None) != "23505":
            raise
        raise errors.AccountTaken() from exc
    return user, pair


def find_by_login(login: str) -> User | None:
    """The live account whose username or email matches, case-insensitively."""
    login = login.strip().lower()
    return db.session.execute(
        select(User).where(
            or_(func.lower(User.username) == login, func.lower(User.email) == login), User.deleted_at.is_(None)
        )
    ).scalar_one_or_none()


def authenticate(*, user: User | None, password: str) -> User:
    """The account if this password is its own, or one generic failure (same work either way)."""
    if user is None:
        passwords.verify(password, DUMMY_HASH)
        raise errors.InvalidCredentials()
    valid, new_hash = passwords.verify_and_update(password, user.password_hash)
    if not valid:
        raise errors.InvalidCredentials()
    if new_hash:
        user.password_hash = new_hash
    return user


def login(
    *,
    login: str,
    password: str,
    ip: str,
    throttle: LoginThrottle,
    kid: str,
    devices: DeviceTokens,
    device_token: str | None = None,
) -> tuple[User, TokenPair, str]:
    """Authenticate and start a session, throttling repeated failures; also returns a device
    token for this account that exempts this client from the per-account budget next time."""
    user = find_by_login(login)
    account = str(user.id) if user is not None else LoginThrottle.account_of(login)
    attempt = Attempt(account, ip, devices.device_of(device_token, account))
    throttle.check(attempt)
    try:
        user = authenticate(user=user, password=password)
    except errors.InvalidCredentials:
        throttle.failed(attempt)
        raise
    throttle.succeeded(attempt)
    user.last_login = utcnow()
    pair = start_session(user=user, kid=kid)
    db.session.commit()
    return user, pair, devices.issue(str(user.id))


def read_user(user_id: str) -> User:
    """`get_user` for a request that reads nothing else: no transaction around its one statement."""
    outside_transaction(db.session)
    return get_user(user_id)


def get_user(user_id: str) -> User:
    """A live account by id; 404 for unknown or malformed ids."""
    try:
        uid = uuid.UUID(str(user_id))
    except ValueError:
        raise errors.UserNotFound("No such user.") from None
    user = db.session.get(User, uid)
    if user is None or user.deleted_at is not None:
        raise errors.UserNotFound("No such user.")
    return user


def change_password(*, user_id: str, family_id: str | None, current: str, new: str, denylist: Denylist) -> None:
    """Change the password; every other session of the user is revoked at once."""
    user = get_user(user_id)
    if not passwords.verify(current, user.password_hash):
        raise errors.WrongPassword("The current password is incorrect.")
    user.password_hash = passwords.hash(new)
    user.password_changed_at = utcnow()
    keep = uuid.UUID(family_id) if family_id else None
    revoke_families(family_ids=live_families(user.id, keep=keep), reason="password_change", denylist=denylist)
    db.session.commit()


# At most this many reset emails per account and hour; further requests are dropped, still 202.
RESET_EMAILS_PER_HOUR = 3

# One statement does a reset request's whole work, so the request runs the same statements
# whether or not the address has an account (only the rows it writes differ): find the account,
# unless it had RESET_EMAILS_PER_HOUR tokens in the last hour; spend its unused tokens; add the
# new one; and put PasswordResetRequested in the outbox (the payload in `publish`'s form).
_RESET = text(
    f"""
    WITH target AS (
        SELECT u.id, u.email FROM {User.__table__.fullname} u
        WHERE lower(u.email) = :address AND u.deleted_at IS NULL
          AND (SELECT count(*) FROM {PasswordResetToken.__table__.fullname} t
               WHERE t.user_id = u.id AND t.created_at > :since) < :per_hour
    ),
    spent AS (
        UPDATE {PasswordResetToken.__table__.fullname} SET used_at = :now
        WHERE used_at IS NULL AND user_id IN (SELECT id FROM target)
    ),
    issued AS (
        INSERT INTO {PasswordResetToken.__table__.fullname} (id, user_id, token_hash, expires_at)
        SELECT :token_id, id, :token_hash, :expires_at FROM target
        RETURNING user_id
    )
    INSERT INTO {OutboxEvent.__table__.fullname} (id, event_type, payload, attempts)
    SELECT :event_id, 'PasswordResetRequested', jsonb_build_object(
        'id', CAST(:event_id AS text), 'type', 'PasswordResetRequested', 'occurred_at', CAST(:now_iso AS text),
        'data', jsonb_build_object('user_id', CAST(target.id AS text), 'email', target.email,
                                   'token', CAST(:token AS text), 'expires_at', CAST(:expires_iso AS text))
    ), 0
    FROM target JOIN issued ON issued.user_id = target.id
    """
)


def request_password_reset(*, email: str) -> None:
    """Issue a single-use reset token for this address, if it has an account and has not had
    RESET_EMAILS_PER_HOUR in the last hour; the same statements either way (the caller can't tell)."""
    address = email.strip().lower()
    token, now = secrets.token_urlsafe(32), utcnow()
    expires = now + RESET_TOKEN_LIFETIME
    # Concurrent requests for one address queue here, so the hourly cap holds exactly.
    lock = int.from_bytes(hashlib.sha256(b"password reset\0" + address.encode()).digest()[:8], "big", signed=True)
    db.session.execute(select(func.pg_advisory_xact_lock(lock)))
    db.session.execute(
        _RESET,
        {
            "address": address,
            "since": now - timedelta(hours=1),
            "per_hour": RESET_EMAILS_PER_HOUR,
            "now": now,
            "now_iso": now.isoformat(),
            "token_id": uuid.uuid4(),
            "token_hash": token_hash(token),
            "token": token,
            "expires_at": expires,
            "expires_iso": expires.isoformat(),
            "event_id": uuid.uuid4(),
        },
    )
    # Wake the relay as `publish` does; on every request, whether or not a row was written.
    db.session.execute(text("SELECT pg_notify(:channel, :schema)"), {"channel": RELAY_CHANNEL, "schema": "auth"})
    db.session.commit()


def confirm_password_reset(*, token: str, password: str, denylist: Denylist) -> None:
    """Set a new password with a reset token; the token is spent and every session revoked."""
    row = db.session.execute(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash(token)).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise errors.InvalidResetToken()
    user = get_user(str(row.user_id))
    row.used_at = utcnow()
    user.password_hash = passwords.hash(password)
    user.password_changed_at = utcnow()
    revoke_families(family_ids=live_families(user.id), reason="password_reset", denylist=denylist)
    db.session.commit()


def set_roles(*, user_id: str, roles: list[str], denylist: Denylist) -> User:
    """Replace a user's roles; their current access tokens must be refreshed to carry them.

    Revoked by roles version, not by time: a token signed in the same second as the change, or
    signed just after it with roles read just before it, carries the old version and is refused.
    """
    user = get_user(user_id)
    version = db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(roles=sorted({"user", *roles}), roles_version=User.roles_version + 1)
        .returning(User.roles_version)
    ).scalar_one()
    denylist.revoke_roles_below(str(user.id), version)
    db.session.commit()
    db.session.refresh(user)
    return user


def ensure_admin(*, username: str, email: str, password: str) -> User:
    """Make sure the bootstrap admin exists with the admin role (idempotent). The password is set
    only when the account is created: one changed later through the API survives a restart."""
    db.session.execute(select(func.pg_advisory_xact_lock(0x41444D4E)))
    user = find_by_login(username) or find_by_login(email)
    if user is None:
        user = create_user(
            username=username, email=email, password=password, roles=["admin", "user"], display_name=username
        )
    else:
        user.roles = sorted({"admin", "user", *user.roles})
    db.session.commit()
    return user


def delete_account(*, user_id: str, password: str, ip: str, throttle: LoginThrottle, denylist: Denylist) -> str:
    """Delete the account, confirmed with its password: every token stops working at once, the
    auth service's rows go now, and `UserDeleted` tells every other service to erase theirs.

    The revocation is written to Redis before the transaction commits: if Redis is down the
    request fails (503) and nothing is deleted, rather than deleting an account whose tokens live on.
    An account that only signs in with OIDC has no password; it sets one by password reset first.
    """
    user = get_user(user_id)
    attempt = Attempt(str(user.id), ip)
    throttle.check(attempt)
    if not passwords.verify(password, user.password_hash):
        throttle.failed(attempt)
        raise errors.WrongPassword("The password is incorrect.")
    deleted_id = str(user.id)
    families = db.session.execute(select(TokenFamily.id).where(TokenFamily.user_id == user.id)).scalars().all()
    denylist.revoke_families([str(family) for family in families])
    event_id = publish(db.session, OutboxEvent, "UserDeleted", {"user_id": deleted_id})
    USER_DATA.erase(db.session, deleted_id, keep_events=[event_id])
    db.session.commit()
    db.session.expunge_all()
    with contextlib.suppress(redis.RedisError):
        # Best effort: the role-change mark expires with the last access token anyway, and the
        # failure counts within their window.
        USER_DATA.purge_keys(denylist.redis, deleted_id)
        throttle.forget(deleted_id)
    return deleted_id
