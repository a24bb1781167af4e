"""Forwarding to upstream services over pooled connections, streamed back, behind breakers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pybreaker
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from shared.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from shared.http import FAILURE_STATUSES, Breaker

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
CHUNK = 64 * 1024


@dataclass
class Instance:
    """One instance of a service: its pool and when it may be tried again after failing."""

    url: str
    pool: urllib3.HTTPConnectionPool
    down_until: float = 0.0

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self.down_until


@dataclass
class Upstream:
    """A service behind the gateway: its instances (round robin, unhealthy skipped) and circuit."""

    name: str
    instances: list[Instance]
    breaker: Breaker
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self) -> Instance:
        with self._lock:
            count = len(self.instances)
            for offset in range(count):
                instance = self.instances[(self._next + offset) % count]
                if instance.healthy:
                    self._next = (self._next + offset + 1) % count
                    return instance
            self._next = (self._next + 1) % count
            return self.instances[self._next]


def make_upstream(
    name: str,
    urls: Sequence[str],
    *,
    connect_timeout: float,
    read_timeout: float,
    fail_max: int,
    reset_timeout: float,
    pool_size: int = 200,
) -> Upstream:
    """An Upstream with a keep-alive pool per instance."""
    instances = []
    for url in urls:
        parts = urlsplit(url)
        pool_class = urllib3.HTTPSConnectionPool if parts.scheme == "https" else urllib3.HTTPConnectionPool
        pool = pool_class(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            maxsize=pool_size,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        )
        instances.append(Instance(url, pool))
    breaker = Breaker(fail_max=fail_max, reset_timeout=reset_timeout, name=name, process="gateway")
    return Upstream(name, instances, breaker)


class Forwarded:
    """An upstream response being streamed back; the breaker learns its outcome."""

    def __init__(self, response: urllib3.BaseHTTPResponse):
        self.response = response
        self.status = response.status
        self.headers = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.response.stream(CHUNK, decode_content=False)
        finally:
            self.response.release_conn()

    def close(self) -> None:
        self.response.release_conn()


def forward(
    upstream: Upstream,
    method: str,
    path_qs: str,
    headers: dict[str, str],
    body: bytes | None,
    read_timeout: float | None = None,
) -> Forwarded:
    """Send the request to an instance; map failures at the edge (503 open, 504 timeout, 502 down)."""
    breaker = upstream.breaker
    try:
        breaker.before_call()
    except pybreaker.CircuitBreakerError as exc:
        raise ServiceUnavailable(
            f"The {upstream.name} service is unavailable.",
            retry_after=breaker.seconds_until_retry(),
            code="upstream.circuit_open",
        ) from exc
    instance = upstream.pick()
    kwargs = {}
    if read_timeout is not None:
        kwargs["timeout"] = urllib3.Timeout(connect=instance.pool.timeout.connect_timeout, read=read_timeout)
    try:
        response = instance.pool.urlopen(
            method,
            path_qs,
            body=body,
            headers=headers,
            preload_content=False,
            redirect=False,
            assert_same_host=False,
            release_conn=False,
            **kwargs,
        )
    except NewConnectionError as exc:  # a subclass of urllib3's TimeoutError: catch it first
        instance.down_until = time.monotonic() + 2.0
        breaker.record_failure(exc)
        raise BadGateway(f"The {upstream.name} service could not be reached.") from exc
    except (ReadTimeoutError, Urllib3Timeout) as exc:
        breaker.record_failure(exc)
        raise GatewayTimeout(f"The {upstream.name} service did not answer in time.") from exc
    except (HTTPError, ProtocolError, OSError) as exc:
        instance.down_until = time.monotonic() + 2.0
        breaker.record_failure(exc)
        raise BadGateway(f"The {upstream.name} service could not be reached.") from exc
    if response.status in FAILURE_STATUSES:
        breaker.record_failure(RuntimeError(f"upstream answered {response.status}"))
    else:
        breaker.record_success()
    return Forwarded(response)
