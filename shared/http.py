"""Calls between services: pooled, always with timeouts, a circuit per target, safe retries."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker
import redis
import requests
from flask import g, has_request_context
from requests.adapters import HTTPAdapter

from shared.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from shared.metrics import BREAKER_STATE, UPSTREAM_CALLS

T = TypeVar("T")
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Answers that say the upstream itself is unhealthy, besides connection errors and timeouts: what
# stands in front of it could not reach it (502) or got no answer in time (504). Not a 500: that is
# one request's bug, and counted, a few bad requests (no token needed) would take the service
# offline for everyone. Nor a 503: a live service refusing on purpose (its own dependency is down)
# must not open the circuit for all its routes.
FAILURE_STATUSES = frozenset({502, 504})


class Breaker(pybreaker.CircuitBreaker):
    """A pybreaker circuit whose lock covers state changes only, never the guarded call.

    pybreaker's own call() holds its lock for the whole call, serializing every request to one
    upstream (pybreaker issue #55). Here the lock is taken to decide and to record, and released
    while the call runs. In half-open state one trial call is let through at a time.
    """

    def __init__(self, *args: Any, process: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._trial_running = False
        self._process = process
        self._publish_state()

    def _publish_state(self) -> None:
        value = {"closed": 0.0, "half-open": 0.5, "open": 1.0}.get(self.current_state, 0.0)
        BREAKER_STATE.labels(self._process, self.name or "").set(value)

    def before_call(self) -> None:
        """Raise CircuitBreakerError at once if the circuit refuses calls now."""
        with self._lock:
            state = self.current_state
            if state == pybreaker.STATE_CLOSED:
                return
            if state == pybreaker.STATE_OPEN:
                opened_at = self._state_storage.opened_at
                if opened_at and datetime.now(UTC) < opened_at + timedelta(seconds=self.reset_timeout):
                    raise pybreaker.CircuitBreakerError("circuit open")
                self.half_open()
                self._publish_state()
            if self._trial_running:
                raise pybreaker.CircuitBreakerError("circuit half-open, trial call running")
            self._trial_running = True

    def record_success(self) -> None:
        """Count a successful call."""
        with self._lock:
            self._trial_running = False
            self.state._handle_success()
            self._publish_state()

    def record_failure(self, exc: BaseException) -> None:
        """Count a failed call (may open the circuit)."""
        with self._lock:
            self._trial_running = False
            with contextlib.suppress(pybreaker.CircuitBreakerError):
                self.state._handle_error(exc, reraise=False)
            self._publish_state()

    @contextlib.contextmanager
    def refusal_as_503(self) -> Iterator[None]:
        """Inside, this circuit refusing a call (CircuitBreakerError) leaves as the 503 every
        HugMood process answers for it: code upstream.circuit_open, Retry-After until the trial."""
        try:
            yield
        except pybreaker.CircuitBreakerError as exc:
            raise ServiceUnavailable(
                f"The {self.name} service is unavailable.",
                retry_after=self.seconds_until_retry(),
                code="upstream.circuit_open",
            ) from exc

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.before_call()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            if self.is_system_error(exc):
                self.record_failure(exc)
            else:
                self.record_success()
            raise
        self.record_success()
        return result

    def close_early(self) -> bool:
        """Close a circuit that is not closed (a health check found its upstream ready again);
        True when it was open or half-open."""
        with self._lock:
            if self.current_state == pybreaker.STATE_CLOSED:
                return False
            self._trial_running = False
            self.close()
            self._publish_state()
            return True

    def snapshot(self) -> dict[str, Any]:
        """This process's view of the circuit: its state and failure count."""
        return {"state": self.current_state, "failures": self.fail_counter}

    def seconds_until_retry(self) -> int:
        """How long until an open circuit lets a trial call through (for Retry-After)."""
        opened_at = self._state_storage.opened_at
        if self.current_state != pybreaker.STATE_OPEN or not opened_at:
            return 1
        remaining = (opened_at + timedelta(seconds=self.reset_timeout) - datetime.now(UTC)).total_seconds()
        return max(1, int(remaining + 0.999))


class UpstreamError(Exception):
    """An upstream answered one of FAILURE_STATUSES: counts against its circuit; idempotent calls retry."""

    def __init__(self, response: requests.Response):
        super().__init__(f"upstream answered {response.status_code}")
        self.response = response


class Instances:
    """Round-robin over a service's instances."""

    def __init__(self, urls: Sequence[str]):
        self.urls = tuple(urls)
        self._cycle = itertools.cycle(self.urls)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return next(self._cycle)


class ServiceClient:
    """The one way a HugMood process calls another over HTTP."""

    def __init__(
        self,
        caller: str,
        urls: dict[str, Sequence[str]],
        *,
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        retries: int = 2,
        backoff: float = 0.05,
        fail_max: int = 5,
        reset_timeout: float = 10.0,
        token_provider: Callable[[], str] | None = None,
    ):
        self.caller = caller
        self.instances = {name: Instances(u) for name, u in urls.items()}
        self.timeout = (connect_timeout, timeout)
        self.retries = retries
        self.backoff = backoff
        self.token_provider = token_provider
        self.breakers = {
            name: Breaker(fail_max=fail_max, reset_timeout=reset_timeout, name=name, process=caller) for name in urls
        }
        self.session = requests.Session()
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=64, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _headers(self, extra: dict[str, str] | None, authenticate: bool) -> dict[str, str]:
        headers = {"User-Agent": f"hugmood-{self.caller}", "X-HugMood-Caller": self.caller}
        if has_request_context() and g.get("request_id"):
            headers["X-Request-ID"] = g.request_id
        if authenticate and self.token_provider is not None:
            headers["Authorization"] = f"Bearer {self.token_provider()}"
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        authenticate: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Call `service`; 503 when its circuit is open, 504 on timeout, 502 when unreachable.

        Idempotent methods are retried with exponential backoff; others are tried once.
        """
        method = method.upper()
        breaker = self.breakers[service]
        attempts = 1 + (self.retries if method in IDEMPOTENT else 0)
        kwargs.setdefault("timeout", self.timeout)
        UPSTREAM_CALLS.labels(self.caller, service).inc()
        for attempt in range(attempts):
            url = self.instances[service].next() + path
            try:
                with breaker.refusal_as_503():
                    return breaker.call(self._send, method, url, self._headers(headers, authenticate), kwargs)
            except (requests.ConnectionError, requests.Timeout, UpstreamError) as exc:
                if attempt + 1 < attempts:
                    time.sleep(self.backoff * (2**attempt))
                    continue
                if isinstance(exc, UpstreamError):
                    return exc.response
                if isinstance(exc, requests.Timeout):
                    raise GatewayTimeout(f"The {service} service did not answer in time.") from exc
                raise BadGateway(f"The {service} service could not be reached.") from exc
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]) -> requests.Response:
        response = self.session.request(method, url, headers=headers, **kwargs)
        if response.status_code in FAILURE_STATUSES:
            raise UpstreamError(response)
        return response

    def get(self, service: str, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", service, path, **kwargs)

    def post(self, service: str, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", service, path, **kwargs)

    def read(self, service: str, path: str) -> Any:
        """GET a JSON document from `service`: None on 404, 503 on any other answer but 200."""
        response = self.get(service, path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceUnavailable(f"The {service} service could not answer.", code="upstream.unavailable")
        return response.json()


class ServiceTokens:
    """This service's own access token from the auth service (client_credentials), renewed early."""

    def __init__(self, service: str, secret: str, auth_urls: Sequence[str], timeout: float = 3.0):
        self.service = service
        self.secret = secret
        self.instances = Instances(auth_urls)
        self.timeout = timeout
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                try:
                    response = self._session.post(
                        self.instances.next() + "/api/v1/auth/token",
                        data={
                            "grant_type": "client_credentials",
                            "client_id": self.service,
                            "client_secret": self.secret,
                        },
                        timeout=self.timeout,
                    )
                except requests.RequestException as exc:
                    raise ServiceUnavailable("The auth service is unavailable.") from exc
                if response.status_code != 200:
                    raise ServiceUnavailable(f"Service credentials were refused ({response.status_code}).")
                body = response.json()
                self._token = body["access_token"]
                self._renew_at = time.monotonic() + max(body["expires_in"] * 0.8, 1)
            return self._token


class ReadThroughCache:
    """A short-TTL Redis copy of another service's answers, so its outage need not be ours.

    Fresh copies are served for `ttl` seconds. When the owner cannot be reached, a copy up to
    `stale_ttl` old is served if `serve_stale`; otherwise (or with no copy) the caller gets 503.
    """

    def __init__(self, client: Any, prefix: str, *, ttl: int = 5, stale_ttl: int = 300, serve_stale: bool = True):
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.serve_stale = serve_stale

    def _read(self, key: str) -> tuple[Any, float] | None:
        try:
            raw = self.redis.get(f"{self.prefix}:{key}")
        except redis.RedisError:
            return None
        if raw is None:
            return None
        entry = json.loads(raw)
        return entry["value"], entry["at"]

    def _write(self, key: str, value: Any) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.set(f"{self.prefix}:{key}", json.dumps({"value": value, "at": time.time()}), ex=self.stale_ttl)

    def invalidate(self, key: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(f"{self.prefix}:{key}")

    def get(self, key: str, fetch: Callable[[], Any], *, reuse: Callable[[Any], bool] | None = None) -> Any:
        """The value for `key`: cached if fresh, else fetched (and cached), else stale or 503.

        With `reuse`, a cached copy is served only if `reuse(copy)` holds; any other is fetched
        again (and, with the owner unreachable, is 503 or stale as without it).
        """
        cached = self._read(key)
        if cached is not None and time.time() - cached[1] < self.ttl and (reuse is None or reuse(cached[0])):
            return cached[0]
        try:
            value = fetch()
        except (ServiceUnavailable, BadGateway, GatewayTimeout) as exc:
            if cached is not None and self.serve_stale:
                return cached[0]
            raise ServiceUnavailable(
                "A service this answer depends on is unavailable; try again shortly.",
                code="upstream.unavailable",
            ) from exc
        if value is not None:
            # "No such thing" is not kept: the next ask is as cheap, and a key naming a user who
            # was just deleted would outlive their erasure.
            self._write(key, value)
        return value
