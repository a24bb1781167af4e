"""Password-login throttling: per (address, account) delays, a daily per-account budget, and the
device tokens and known addresses that the budget does not lock out (OWASP's device cookies)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import redis

from services.auth import errors

DEVICE_TOKEN_SECONDS = 90 * 86400


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class DeviceTokens:
    """Signed device tokens: `<user id>.<device id>.<issued at>.<HMAC-SHA256>`, issued on a
    successful password login and valid for that account only, for 90 days."""

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, user_id: str) -> str:
        body = f"{user_id}.{_b64(secrets.token_bytes(16))}.{int(time.time())}"
        return f"{body}.{self._mac(body)}"

    def device_of(self, token: str | None, user_id: str) -> str | None:
        """The device id of a genuine, unexpired token of this account; None for anything else."""
        parts = (token or "").split(".")
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        owner, device, issued, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{owner}.{device}.{issued}")) or owner != user_id:
            return None
        return device if time.time() - int(issued) < DEVICE_TOKEN_SECONDS else None


@dataclass(frozen=True)
class Attempt:
    """Who is trying: the account (its id, or a hash of a login that names none), the client
    address, and the device id of a valid device token of that account, if one came."""

    account: str
    ip: str
    device: str | None = None


class LoginThrottle:
    """Failed password checks are counted per (address, account), per device token, and per
    account over a day (docs/architecture.md, "Login throttling").

    - Per (address, account): 5 failures free, then delays doubling up to 5 minutes.
    - Per account and day: every failure counts. A *stranger* (no device token of the account,
      and an address the account has not signed in from) is refused once 80 are spent; a known
      device or address (one that has not itself failed 5 times today) only at 100. So guessing
      tops out at 100 a day per account, and an attacker can shut out strangers only.
    """

    FREE_PER_IP, CAP_SECONDS = 5, 300
    STRANGER_BUDGET, DAILY_BUDGET, KNOWN_FREE, DAY = 80, 100, 5, 86400
    KNOWN_ADDRESSES, KNOWN_ADDRESS_SECONDS = 10, 30 * 86400

    def __init__(self, client: redis.Redis):
        self.redis = client

    @staticmethod
    def account_of(login: str) -> str:
        """The throttle's name for a login that matches no account."""
        return "login:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]

    def _keys(self, attempt: Attempt) -> tuple[str, str, str, str]:
        base = f"hm:login:fail:{attempt.account}"
        device = f"hm:login:device:{attempt.device}" if attempt.device else f"{base}:nodevice"
        return f"{base}:{attempt.ip}", base, device, f"hm:login:known:{attempt.account}"

    def _delay(self, failures: int, free: int) -> int:
        return 0 if failures < free else min(self.CAP_SECONDS, 2 ** (failures - free + 1))

    def check(self, attempt: Attempt) -> None:
        """Raise 429 while this attempt's address is cooling down or its daily budget is spent."""
        ip_key, day_key, device_key, known_key = self._keys(attempt)
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hmget(ip_key, "n", "last")
            pipe.get(day_key)
            pipe.ttl(day_key)
            pipe.get(device_key)
            pipe.zscore(known_key, attempt.ip)
            (n_ip, last_ip), n_day, day_ttl, n_device, known_since = pipe.execute()
        except redis.RedisError:
            return  # the gateway's per-process fallback limiter still bounds login attempts
        n_ip, n_day = int(n_ip or 0), int(n_day or 0)
        device_ok = attempt.device is not None and int(n_device or 0) < self.KNOWN_FREE
        recent = known_since is not None and time.time() - float(known_since) < self.KNOWN_ADDRESS_SECONDS
        address_ok = recent and n_ip < self.KNOWN_FREE
        if not device_ok:
            wait = self._delay(n_ip, self.FREE_PER_IP) - (time.time() - float(last_ip or 0))
            if wait > 0:
                raise errors.LoginThrottled(int(wait) + 1)
        budget = self.DAILY_BUDGET if device_ok or address_ok else self.STRANGER_BUDGET
        if n_day >= budget:
            raise errors.LoginThrottled(max(int(day_ttl), 1))

    def failed(self, attempt: Attempt) -> None:
        ip_key, day_key, device_key, _ = self._keys(attempt)
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hincrby(ip_key, "n", 1)
            pipe.hset(ip_key, "last", time.time())
            pipe.expire(ip_key, self.DAY)
            pipe.incr(day_key)
            pipe.expire(day_key, self.DAY, nx=True)
            if attempt.device:
                pipe.incr(device_key)
                pipe.expire(device_key, self.DAY, nx=True)
            pipe.execute()
        except redis.RedisError:
            pass

    def succeeded(self, attempt: Attempt) -> None:
        """Clear this address's and device's failures and remember the address for the account."""
        ip_key, _, device_key, known_key = self._keys(attempt)
        with contextlib.suppress(redis.RedisError):
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(ip_key)
            if attempt.device:
                pipe.delete(device_key)
            pipe.zadd(known_key, {attempt.ip: time.time()})
            pipe.zremrangebyrank(known_key, 0, -self.KNOWN_ADDRESSES - 1)
            pipe.expire(known_key, self.KNOWN_ADDRESS_SECONDS)
            pipe.execute()

    def forget(self, *accounts: str) -> None:
        """Drop every failure count and known address of these accounts (an account being deleted)."""
        for account in accounts:
            base = f"hm:login:fail:{account}"
            keys = [base, f"hm:login:known:{account}", *self.redis.scan_iter(match=f"{base}:*", count=1000)]
            self.redis.delete(*keys)
