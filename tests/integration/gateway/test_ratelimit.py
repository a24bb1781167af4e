"""The limiter's one round trip against real Redis: atomic counting, denylist, Redis down."""

from __future__ import annotations

import threading
import time

import redis

from shared.auth import Denylist
from shared.ratelimit import Limiter


def test_concurrent_clients_are_never_over_admitted(redis_client, redis_url):
    limiter = Limiter(redis.Redis.from_url(redis_url, max_connections=128))
    limit, clients, per_client = 200, 64, 400 // 64 + 1
    admitted = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client() -> None:
        barrier.wait()
        for _ in range(per_client):
            verdict = limiter.check([("ip:198.51.100.1", limit)], None)
            with lock:
                admitted.append(verdict.allowed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == clients * per_client >= 2 * limit
    assert sum(admitted) == limit


def test_verdict_reports_the_tightest_bucket(redis_client):
    limiter = Limiter(redis_client)
    verdict = limiter.check([("ip:a", 100), ("user:u", 3)], None)
    assert (verdict.allowed, verdict.limit, verdict.remaining) == (True, 3, 2)
    assert 0 < verdict.reset <= 60
    limiter.check([("ip:a", 100), ("user:u", 3)], None)
    limiter.check([("ip:a", 100), ("user:u", 3)], None)
    denied = limiter.check([("ip:a", 100), ("user:u", 3)], None)
    assert not denied.allowed and denied.remaining == 0


def test_denylist_is_read_in_the_same_round_trip(redis_client):
    limiter, denylist = Limiter(redis_client), Denylist(redis_client)
    claims = {"sub": "u1", "jti": "j1", "fam": "f1", "iat": int(time.time())}
    assert not limiter.check([("ip:x", 10)], claims).revoked
    denylist.revoke_token("j1")
    assert limiter.check([("ip:x", 10)], claims).revoked
    assert limiter.check([("ip:x", 10)], {**claims, "jti": "j2"}).revoked is False
    denylist.revoke_families(["f1"])
    assert limiter.check([("ip:x", 10)], {**claims, "jti": "j2"}).revoked
    denylist.revoke_roles_below("u2", 2)
    assert limiter.check([("ip:x", 10)], {"sub": "u2", "jti": "j3", "fam": "f9", "rv": 1}).revoked
    assert not limiter.check([("ip:x", 10)], {"sub": "u2", "jti": "j4", "fam": "f9", "rv": 2}).revoked
    denylist.revoke_roles_below("u2", 1)  # a late, older role change does not lower the mark
    assert limiter.check([("ip:x", 10)], {"sub": "u2", "jti": "j3", "fam": "f9", "rv": 1}).revoked


def test_redis_down_keeps_strict_routes_limited_locally():
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = Limiter(dead)
    try:
        limiter.check([("ip:1.2.3.4:login", 3)], None)
        raise AssertionError("expected a RedisError")
    except redis.RedisError:
        pass
    verdicts = [limiter.check_locally([("ip:1.2.3.4:login", 3)]) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
