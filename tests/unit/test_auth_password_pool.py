"""argon2id off the request threads: a real process pool, at idle priority, shedding beyond its queue."""

import os
import threading
import time

import pytest

from services.auth.service.passwords import PasswordHashing
from shared.errors import ServiceUnavailable


@pytest.fixture
def hashing():
    pool = PasswordHashing()
    pool.configure(workers=1, queue=0)
    yield pool
    if pool._pool is not None:
        pool._pool.shutdown(wait=True, cancel_futures=True)


def test_hashes_in_another_process_that_only_gets_idle_cpu(hashing):
    hashed = hashing.hash("correct horse battery staple")
    assert hashing.verify("correct horse battery staple", hashed)
    assert not hashing.verify("correct horse battery stapler", hashed)
    assert hashing._run(os.getpid) != os.getpid()
    assert hashing._run(os.sched_getscheduler, 0) == os.SCHED_IDLE


def test_a_check_beyond_the_queue_is_refused_at_once_with_retry_after(hashing):
    hashing._run(os.getpid)  # the pool is up
    busy = threading.Thread(target=hashing._run, args=(time.sleep, 1.0))
    busy.start()
    try:
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as refused:
            hashing.verify("correct horse battery staple", "$argon2id$whatever")
        assert time.monotonic() - started < 0.5
        assert refused.value.headers["Retry-After"] == "1"
        assert refused.value.code == "auth.busy"
    finally:
        busy.join()
    assert hashing._run(os.getpid) != os.getpid()  # the slot is free again
