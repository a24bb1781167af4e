"""Auth business logic: accounts, passwords, token families, resets, roles."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import multiprocessing
import os
import secrets
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask_jwt_extended import create_access_token
from passlib.context import CryptContext
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from services.auth import errors
from services.auth.models import OutboxEvent, PasswordResetToken, RefreshToken, TokenFamily, User, db
from shared.auth import ACCESS_TOKEN_SECONDS, Denylist
from shared.events import publish

REFRESH_TOKEN_LIFETIME = timedelta(days=7)
RESET_TOKEN_LIFETIME = timedelta(hours=1)
# OWASP: argon2id, m=19 MiB, t=2, p=1.
_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__time_cost=2,
    argon2__parallelism=1,
)


def _hash(secret: str) -> str:
    return _context.hash(secret)


def _verify_and_update(secret: str, hashed: str) -> tuple[bool, str | None]:
    return _context.verify_and_update(secret, hashed)


def _lower_priority() -> None:
    os.nice(10)


class PasswordHashing:
    """argon2id off the request threads, in a small pool of low-priority processes.

    Hashing is ~20 ms of CPU that holds the GIL; done inline, a burst of logins stalls every other
    request of the worker and competes with the whole fleet for the CPU. In niced processes the
    kernel gives every other route the CPU first. workers=0 hashes inline.
    """

    def __init__(self) -> None:
        self.workers = 0
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def configure(self, workers: int) -> None:
        self.workers = workers

    def _pool_for_this_process(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority
                )
                self._pid = os.getpid()
            return self._pool

    def _run(self, fn: Any, *args: str) -> Any:
        if not self.workers:
            return fn(*args)
        try:
            return self._pool_for_this_process().submit(fn, *args).result(timeout=30)
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            return self._pool_for_this_process().submit(fn, *args).result(timeout=30)

    def hash(self, secret: str) -> str:
        return self._run(_hash, secret)

    def verify(self, secret: str, hashed: str) -> bool:
        return self._run(_verify_and_update, secret, hashed)[0]

    def verify_and_update(self, secret: str, hashed: str) -> tuple[bool, str | None]:
        return self._run(_verify_and_update, secret, hashed)


passwords = PasswordHashing()
_DUMMY_HASH = _hash(secrets.token_urlsafe(16))


def now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """Tokens are stored only as their SHA-256 (they carry 256 bits of entropy: no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---- signing keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """The RSA key that signs access tokens, with its RFC 7638 thumbprint as `kid`."""

    private_pem: str
    public_jwk: dict[str, str]

    @property
    def kid(self) -> str:
        return self.public_jwk["kid"]

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ValueError("AUTH_JWT_PRIVATE_KEY must be an RSA key of at least 2048 bits")
        numbers = key.public_key().public_numbers()

        def b64(n: int) -> str:
            return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")

        jwk = {"kty": "RSA", "e": b64(numbers.e), "n": b64(numbers.n)}
        canonical = '{{"e":"{}","kty":"RSA","n":"{}"}}'.format(jwk["e"], jwk["n"])
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")
        return cls(private_pem=pem, public_jwk={**jwk, "kid": kid, "use": "sig", "alg": "RS256"})


def generate_private_key_pem() -> str:
    """A fresh 2048-bit RSA key in PKCS#8 PEM (development and tests)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


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


def access_token_for(*, subject: str, roles: list[str], family_id: uuid.UUID | None, kid: str) -> str:
    """Sign an access token: 15 minutes, with kid, iss, aud and typ=at+jwt (RFC 9068)."""
    claims: dict[str, Any] = {"roles": list(roles)}
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
        RefreshToken(family_id=family_id, token_hash=token_hash(token), expires_at=now() + REFRESH_TOKEN_LIFETIME)
    )
    return token


def start_session(*, user: User, kid: str) -> TokenPair:
    """A new login family with its first refresh token and an access token."""
    family = TokenFamily(id=uuid.uuid4(), user_id=user.id)
    db.session.add(family)
    db.session.flush()
    refresh = _new_refresh_token(family.id)
    access = access_token_for(subject=str(user.id), roles=user.roles, family_id=family.id, kid=kid)
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
    if row.expires_at <= now():
        raise errors.InvalidRefreshToken()
    row.rotated_at = now()
    refresh = _new_refresh_token(family.id)
    access = access_token_for(subject=str(user.id), roles=user.roles, family_id=family.id, kid=kid)
    db.session.commit()
    return TokenPair(access, refresh)


def revoke_families(*, family_ids: list[uuid.UUID], reason: str, denylist: Denylist) -> None:
    """Revoke login families: their refresh tokens in the database, their access tokens in Redis."""
    if not family_ids:
        return
    db.session.execute(
        update(TokenFamily)
        .where(TokenFamily.id.in_(family_ids), TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now(), revoked_reason=reason)
    )
    denylist.revoke_families([str(f) for f in family_ids])


def _live_families(user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> list[uuid.UUID]:
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


# ---- accounts ---------------------------------------------------------------------------------


def _create_user(*, username: str, email: str, password: str, roles: list[str], display_name: str) -> User:
    """Insert an account and announce it (UserRegistered) in the same transaction."""
    user = User(id=uuid.uuid4(), username=username, email=email, roles=roles, password_hash=passwords.hash(password))
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
    """Create an account and its first session; UserRegistered goes out through the outbox."""
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
    user = _create_user(
        username=username,
        email=email,
        password=data["password"],
        roles=["user"],
        display_name=data.get("display_name") or username,
    )
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


def authenticate(*, login: str, password: str) -> User:
    """The account for this login and password, or one generic failure (same work either way)."""
    user = find_by_login(login)
    if user is None:
        passwords.verify(password, _DUMMY_HASH)
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
    user.last_login = now()
    pair = start_session(user=user, kid=kid)
    db.session.commit()
    return user, pair


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
    user.password_changed_at = now()
    keep = uuid.UUID(family_id) if family_id else None
    revoke_families(family_ids=_live_families(user.id, keep=keep), reason="password_change", denylist=denylist)
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
        .values(used_at=now())
    )
    token = secrets.token_urlsafe(32)
    expires = now() + RESET_TOKEN_LIFETIME
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
    if row is None or row.used_at is not None or row.expires_at <= now():
        raise errors.InvalidResetToken()
    user = get_user(str(row.user_id))
    row.used_at = now()
    user.password_hash = passwords.hash(password)
    user.password_changed_at = now()
    revoke_families(family_ids=_live_families(user.id), reason="password_reset", denylist=denylist)
    db.session.commit()


def set_roles(*, user_id: str, roles: list[str], denylist: Denylist) -> User:
    """Replace a user's roles; their current access tokens must be refreshed to carry them."""
    user = get_user(user_id)
    user.roles = sorted({"user", *roles})
    db.session.commit()
    denylist.revoke_user_before(str(user.id), int(time.time()))
    return user


def ensure_admin(*, username: str, email: str, password: str) -> User:
    """Make sure the bootstrap admin exists with the admin role and this password (idempotent)."""
    db.session.execute(select(func.pg_advisory_xact_lock(0x41444D4E)))
    user = find_by_login(username) or find_by_login(email)
    if user is None:
        user = _create_user(
            username=username, email=email, password=password, roles=["admin", "user"], display_name=username
        )
    else:
        user.roles = sorted({"admin", "user", *user.roles})
        if not passwords.verify(password, user.password_hash):
            user.password_hash = passwords.hash(password)
    db.session.commit()
    return user


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
