"""Accounts: registration, login and throttling, password change and reset, roles, the admin."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import redis
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from services.auth import errors
from services.auth.models import USER_DATA, OutboxEvent, PasswordResetToken, TokenFamily, User, db
from services.auth.service import verification
from services.auth.service.passwords import DUMMY_HASH, NO_PASSWORD, passwords
from services.auth.service.tokens import TokenPair, live_families, revoke_families, start_session, token_hash
from shared.auth import Denylist
from shared.clock import utcnow
from shared.db import outside_transaction
from shared.events import publish

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
        select(User.username, User.email).where(
            or_(func.lower(User.username) == username.lower(), func.lower(User.email) == email.lower())
        )
    ).first()
    if taken is not None:
        if taken.username.lower() == username.lower():
            raise errors.UsernameTaken("That username is taken.")
        raise errors.EmailTaken("An account with that email exists.")
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
        raise errors.UsernameTaken("That username or email is taken.") from exc
    return user, pair


def find_by_login(login: str) -> User | None:
    """The live account whose username or email matches, case-insensitively."""
    login = login.strip().lower()
    return db.session.execute(
        select(User).where(
            or_(func.lower(User.username) == login, func.lower(User.email) == login), User.deleted_at.is_(None)
        )
    ).scalar_one_or_none()


class LoginThrottle:
    """Growing delays after failed logins, per account+IP and per account; capped, so an
    attacker can slow but never lock out the real user for good."""

    FREE_PER_IP, FREE_PER_ACCOUNT, CAP_SECONDS, WINDOW = 5, 20, 300, 900

    def __init__(self, client: redis.Redis):
        self.redis = client

    def _keys(self, login: str, ip: str) -> tuple[str, str]:
        account = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
        return f"hm:login:fail:{account}:{ip}", f"hm:login:fail:{account}"

    def _delay(self, failures: int, free: int) -> int:
        return 0 if failures < free else min(self.CAP_SECONDS, 2 ** (failures - free + 1))

    def check(self, login: str, ip: str) -> None:
        """Raise 429 while the account is cooling down after repeated failures."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in self._keys(login, ip):
                pipe.hmget(key, "n", "last")
            (n_ip, last_ip), (n_acct, last_acct) = pipe.execute()
        except redis.RedisError:
            return  # the gateway's per-process fallback limiter still bounds login attempts
        for n, last, free in ((n_ip, last_ip, self.FREE_PER_IP), (n_acct, last_acct, self.FREE_PER_ACCOUNT)):
            if n is None:
                continue
            wait = self._delay(int(n), free) - (time.time() - float(last))
            if wait > 0:
                raise errors.LoginThrottled(int(wait) + 1)

    def failed(self, login: str, ip: str) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in self._keys(login, ip):
                pipe.hincrby(key, "n", 1)
                pipe.hset(key, "last", time.time())
                pipe.expire(key, self.WINDOW)
            pipe.execute()
        except redis.RedisError:
            pass

    def succeeded(self, login: str, ip: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(self._keys(login, ip)[0])

    def forget(self, *logins: str) -> None:
        """Drop every failure count of these logins (an account being deleted)."""
        for login in logins:
            account_key = self._keys(login, "-")[1]
            keys = [account_key, *self.redis.scan_iter(match=f"{account_key}:*", count=1000)]
            self.redis.delete(*keys)


def authenticate(*, login: str, password: str) -> User:
    """The account for this login and password, or one generic failure (same work either way)."""
    user = find_by_login(login)
    if user is None:
        passwords.verify(password, DUMMY_HASH)
        raise errors.InvalidCredentials()
    valid, new_hash = passwords.verify_and_update(password, user.password_hash)
    if not valid:
        raise errors.InvalidCredentials()
    if new_hash:
        user.password_hash = new_hash
    return user


def login(*, login: str, password: str, ip: str, throttle: LoginThrottle, kid: str) -> tuple[User, TokenPair]:
    """Authenticate and start a session, throttling repeated failures."""
    throttle.check(login, ip)
    try:
        user = authenticate(login=login, password=password)
    except errors.InvalidCredentials:
        throttle.failed(login, ip)
        raise
    throttle.succeeded(login, ip)
    user.last_login = utcnow()
    pair = start_session(user=user, kid=kid)
    db.session.commit()
    return user, pair


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


def request_password_reset(*, email: str) -> None:
    """Issue a single-use reset token for this address, if it has an account (the caller can't tell)."""
    user = db.session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower(), User.deleted_at.is_(None))
    ).scalar_one_or_none()
    if user is None:
        return
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    token = secrets.token_urlsafe(32)
    expires = utcnow() + RESET_TOKEN_LIFETIME
    db.session.add(PasswordResetToken(user_id=user.id, token_hash=token_hash(token), expires_at=expires))
    publish(
        db.session,
        OutboxEvent,
        "PasswordResetRequested",
        {
            "user_id": str(user.id),
            "email": user.email,
            "token": token,
            "expires_at": expires.isoformat(),
        },
    )
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
    throttle.check(user.username, ip)
    if not passwords.verify(password, user.password_hash):
        throttle.failed(user.username, ip)
        raise errors.WrongPassword("The password is incorrect.")
    deleted_id, logins = str(user.id), (user.username, user.email)
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
        throttle.forget(*logins)
    return deleted_id
