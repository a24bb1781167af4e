"""Rate limits and the denylist check in one Redis round trip, with a local fallback.

The REST gateway counts every request here; the GraphQL gateway counts its login and register
mutations against the same per-IP buckets (`strict_bucket`) as the REST routes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from shared.auth import Denylist, RevocationsNotLoaded
from shared.config import Setting, parse_positive

# KEYS: n bucket keys (each named after its window, so no TTL read is needed), then optionally
# the token's 3 denylist keys and the denylist's READY key. ARGV: n, key lifetime, token rv, how
# many leading buckets a revoked token still counts in. Returns each bucket's count, then whether
# the token is revoked. INCR is atomic: concurrent clients can never be over-admitted. A revoked
# token still counts against the client's IP buckets but not the user's (it is refused anyway), so
# a deleted account's keys, once dropped, stay gone. A Redis without READY (restarted empty)
# returns nothing: the token's revocation is unknown.
LUA = """
local n = tonumber(ARGV[1])
local revoked = 0
if #KEYS > n then
  local v = redis.call('MGET', KEYS[n + 1], KEYS[n + 2], KEYS[n + 3], KEYS[n + 4])
  if not v[4] then return {} end
  if v[1] or v[2] or (v[3] and tonumber(ARGV[3]) < tonumber(v[3])) then revoked = 1 end
end
local counts = {}
for i = 1, n do
  if revoked == 1 and i > tonumber(ARGV[4]) then
    counts[i] = 0
  else
    local count = redis.call('INCR', KEYS[i])
    if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
    counts[i] = count
  end
end
counts[n + 1] = revoked
return counts
"""


# Read by both gateways under the same names, so one setting limits a client however it logs in.
SETTINGS = [
    Setting("GATEWAY_RATE_WINDOW_SECONDS", parse_positive(int), 60, help="rate-limit window"),
    Setting(
        "GATEWAY_AUTH_RATE_LIMIT",
        parse_positive(int),
        10,
        help="login, register and reset requests per window per client IP",
    ),
]


def strict_bucket(client_ip: str, kind: str, limit: int) -> tuple[str, int]:
    """The per-IP bucket of a route an attacker would hammer (kind: login, register, reset)."""
    return f"ip:{client_ip}:{kind}", limit


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int
    revoked: bool = False


class LocalLimiter:
    """Per-process fixed windows: keeps login, register and reset limited while Redis is down."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: int) -> Verdict:
        now = int(time.time())
        start = now - now % window
        with self._lock:
            if len(self._counts) > 50_000:
                self._counts = {k: v for k, v in self._counts.items() if v[0] == start}
            seen_start, count = self._counts.get(key, (start, 0))
            count = count + 1 if seen_start == start else 1
            self._counts[key] = (start, count)
        return Verdict(count <= limit, limit, max(limit - count, 0), start + window - now)


class Limiter:
    """Counts a request against its buckets and reads its token's revocation, atomically."""

    def __init__(self, client: redis.Redis, window: int = 60):
        self.redis = client
        self.window = window
        self.script = client.register_script(LUA)
        self.local = LocalLimiter()

    def script_input(
        self, buckets: list[tuple[str, int]], claims: dict[str, Any] | None, window_start: int
    ) -> tuple[list[str], list[Any]]:
        """The script's KEYS and ARGV for these buckets and this token in the window starting then."""
        keys = [f"hm:rl:{name}:{window_start}" for name, _ in buckets]
        args: list[Any] = [
            len(buckets),
            self.window + 1,
            0,
            sum(1 for name, _ in buckets if not name.startswith("user:")),
        ]
        if claims is not None:
            keys += [*Denylist.keys_for(claims), Denylist.READY]
            args[2] = int(claims.get("rv", 0))
        return keys, args

    def check(self, buckets: list[tuple[str, int]], claims: dict[str, Any] | None) -> Verdict:
        """Raises redis.RedisError when Redis cannot answer (RevocationsNotLoaded: for this token)."""
        now = int(time.time())
        window_start = now - now % self.window
        keys, args = self.script_input(buckets, claims, window_start)
        try:
            result = self.redis.evalsha(self.script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            result = self.script(keys=keys, args=args)
        if not result:
            raise RevocationsNotLoaded("the denylist has not been loaded into this Redis")
        *counts, revoked = result
        reset = window_start + self.window - now
        tightest = min(zip(counts, buckets, strict=True), key=lambda cb: cb[1][1] - cb[0])
        count, (_, limit) = tightest
        allowed = all(c <= lim for c, (_, lim) in zip(counts, buckets, strict=True))
        return Verdict(allowed, limit, max(limit - count, 0), reset, bool(revoked))

    def check_strict(self, buckets: list[tuple[str, int]]) -> Verdict:
        """Count strict buckets (no token): in Redis, or in this process while Redis is down."""
        try:
            return self.check(buckets, None)
        except redis.RedisError:
            return self.check_locally(buckets)

    def check_locally(self, buckets: list[tuple[str, int]]) -> Verdict:
        """The fallback when Redis is down: the tightest of the local buckets."""
        verdicts = [self.local.hit(name, limit, self.window) for name, limit in buckets]
        denied = [v for v in verdicts if not v.allowed]
        return (denied or sorted(verdicts, key=lambda v: v.remaining))[0]
