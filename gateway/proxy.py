"""Forwarding to upstream services over pooled connections, streamed back, behind breakers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPParseError

from shared.errors import BadGateway, GatewayTimeout
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
    """One instance of a service: its keep-alive pool and when it may be tried again after failing."""

    url: str
    pool: HTTPClient
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
    """An Upstream with keep-alive pools per instance.

    geventhttpclient is a C HTTP parser made for gevent sockets: on the gateway's hot path,
    where forwarding is most of its own work, it costs far less CPU per request than urllib3.
    """
    instances = []
    for url in urls:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)

        def pool(
            timeout: float,
            size: int,
            host: str = parts.hostname or "",
            port: int = port,
            tls: bool = parts.scheme == "https",
        ) -> HTTPClient:
            return HTTPClient(
                host,
                port,
                connection_timeout=connect_timeout,
                network_timeout=timeout,
                concurrency=size,
                ssl=tls,
                block_size=CHUNK,
            )

        # Long polls are held by the gateway itself (app.Gateway.held_poll): upstream, a poll is
        # only ever a quick check, so one pool with the ordinary read timeout serves everything.
        instances.append(Instance(url, pool(read_timeout, pool_size)))
    breaker = Breaker(fail_max=fail_max, reset_timeout=reset_timeout, name=name, process="gateway")
    return Upstream(name, instances, breaker)


class Forwarded:
    """An upstream response being streamed back; the connection returns to its pool at the end."""

    def __init__(self, response: Any):
        self.response = response
        self.status = response.status_code
        self.headers = [(k, v) for k, v in response.items() if k.lower() not in HOP_BY_HOP]
        # An event stream (GraphQL subscriptions) is passed on line by line as it arrives: a
        # chunk-sized read would wait for 64 KiB of events.
        self.event_stream = (response.get("content-type") or "").startswith("text/event-stream")

    def __iter__(self) -> Iterator[bytes]:
        try:
            if self.event_stream:
                while line := self.response.readline(b"\n"):
                    yield line
            else:
                while chunk := self.response.read(CHUNK):
                    yield chunk
        finally:
            self.response.release()

    def close(self) -> None:
        self.response.release()

    def drain(self) -> None:
        """Read the rest of the body and give the connection back to its pool (for reuse)."""
        try:
            while self.response.read(CHUNK):
                pass
        finally:
            self.response.release()

    def pop_header(self, name: str) -> str | None:
        """Remove an upstream header not meant for the client, and return its value."""
        lowered = name.lower()
        for index, (key, value) in enumerate(self.headers):
            if key.lower() == lowered:
                del self.headers[index]
                return value
        return None


class Answer:
    """An answer the gateway gives itself, in the shape of a Forwarded one: JSON encoded as the
    services' Flask encodes it (sorted keys, compact, a final newline), so a client cannot tell."""

    def __init__(self, status: int, payload: Any):
        self.status = status
        self.body = (json.dumps(payload, sort_keys=True, separators=(",", ":")) + "\n").encode()
        self.headers = [("Content-Type", "application/json"), ("Content-Length", str(len(self.body)))]

    def __iter__(self) -> Iterator[bytes]:
        yield self.body


def forward(upstream: Upstream, method: str, path_qs: str, headers: dict[str, str], body: bytes | None) -> Forwarded:
    """Send the request to an instance; map failures at the edge (503 open, 504 timeout, 502 down)."""
    breaker = upstream.breaker
    with breaker.refusal_as_503():
        breaker.before_call()
    instance = upstream.pick()
    try:
        response = instance.pool.request(method, path_qs, body=body or b"", headers=headers)
    except TimeoutError as exc:
        breaker.record_failure(exc)
        raise GatewayTimeout(f"The {upstream.name} service did not answer in time.") from exc
    except (OSError, HTTPParseError) as exc:
        instance.down_until = time.monotonic() + 2.0
        breaker.record_failure(exc)
        raise BadGateway(f"The {upstream.name} service could not be reached.") from exc
    if response.status_code in FAILURE_STATUSES:
        breaker.record_failure(RuntimeError(f"upstream answered {response.status_code}"))
    else:
        breaker.record_success()
    return Forwarded(response)
