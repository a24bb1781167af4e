"""The circuit breaker must not serialize concurrent calls (pybreaker issue #55)."""

import threading
import time

import pybreaker
import pytest

from shared.http import Breaker


def test_concurrent_slow_calls_take_about_one_calls_time():
    breaker = Breaker(fail_max=5, reset_timeout=10, name="slow")
    n, delay = 8, 0.3
    threads = [threading.Thread(target=breaker.call, args=(time.sleep, delay)) for _ in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert elapsed < delay * 2, f"{n} calls took {elapsed:.2f}s: serialized"


def test_plain_pybreaker_would_serialize():
    breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=10)
    threads = [threading.Thread(target=breaker.call, args=(time.sleep, 0.1)) for _ in range(4)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.perf_counter() - started >= 0.4


def _fail():
    raise ConnectionError("down")


def test_opens_after_fail_max_and_refuses_at_once():
    breaker = Breaker(fail_max=3, reset_timeout=30, name="down")
    for _ in range(3):
        with pytest.raises((ConnectionError, pybreaker.CircuitBreakerError)):
            breaker.call(_fail)
    assert breaker.current_state == "open"
    started = time.perf_counter()
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(lambda: "never runs")
    assert time.perf_counter() - started < 0.01
    assert 25 <= breaker.seconds_until_retry() <= 30


def test_half_open_lets_one_trial_through_then_closes_on_success():
    breaker = Breaker(fail_max=1, reset_timeout=0.05, name="flaky")
    with pytest.raises((ConnectionError, pybreaker.CircuitBreakerError)):
        breaker.call(_fail)
    time.sleep(0.06)
    breaker.before_call()  # the trial
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.before_call()  # a second caller while the trial runs
    breaker.record_success()
    assert breaker.current_state == "closed"
    assert breaker.call(lambda: 42) == 42
