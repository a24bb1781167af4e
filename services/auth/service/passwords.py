"""Password hashing: argon2id at OWASP parameters, off the request threads."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from passlib.context import CryptContext

from shared.errors import ServiceUnavailable

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


# The password_hash of an account that signs in only through an OpenID Connect provider: no
# password matches it (a password reset can still set one).
NO_PASSWORD = "!"


def _verify_and_update(secret: str, hashed: str) -> tuple[bool, str | None]:
    if hashed == NO_PASSWORD:
        _context.verify(secret, _DUMMY)  # the same work as a real check, so timing tells nothing
        return False, None
    return _context.verify_and_update(secret, hashed)


_DUMMY = _context.hash(secrets.token_urlsafe(16))


def _lower_priority() -> None:
    """Run the hashing process only when the CPU has nothing else to do.

    SCHED_IDLE (weight 3 against a normal task's 1024) lets every request thread of the fleet
    run first; a plain nice value still takes a share of a busy CPU. Lowering one's own
    scheduling class needs no privilege; nice 19 is the fallback where the policy is missing.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


class PasswordHashing:
    """argon2id off the request threads, in a small pool of low-priority processes.

    Hashing is CPU-bound work that holds the GIL throughout; done inline, a burst of logins stalls
    every other request of the worker and competes with the whole fleet for the CPU. In SCHED_IDLE processes
    the kernel gives every other route the CPU first. workers=0 hashes inline.

    At most `queue` requests per process may wait for a hash; beyond that a burst is shed with a
    503 and Retry-After at once, instead of tying up request threads (and every other route) in a
    queue that only grows.
    """

    def __init__(self) -> None:
        self.workers = 0
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._admitted = threading.BoundedSemaphore(1)

    def configure(self, workers: int, queue: int = 8) -> None:
        self.workers = workers
        self._admitted = threading.BoundedSemaphore(max(workers, 1) + queue)

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
        if not self._admitted.acquire(blocking=False):
            raise ServiceUnavailable(
                "Too many sign-ins at once; try again in a moment.", code="auth.busy", retry_after=1
            )
        try:
            return self._pool_for_this_process().submit(fn, *args).result(timeout=30)
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            return self._pool_for_this_process().submit(fn, *args).result(timeout=30)
        finally:
            self._admitted.release()

    def hash(self, secret: str) -> str:
        return self._run(_hash, secret)

    def verify(self, secret: str, hashed: str) -> bool:
        return self._run(_verify_and_update, secret, hashed)[0]

    def verify_and_update(self, secret: str, hashed: str) -> tuple[bool, str | None]:
        return self._run(_verify_and_update, secret, hashed)


passwords = PasswordHashing()
DUMMY_HASH = _hash(secrets.token_urlsafe(16))
