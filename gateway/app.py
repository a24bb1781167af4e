"""The API gateway: request id → token check → rate limit + denylist → proxy, streamed back."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote

import redis
import requests

from gateway import routes
from gateway.auth import ClientAddress
from gateway.datarights import ACCOUNT_DELETION, ERASURES_PREFIX, EXPORT_PATH, DataRights
from gateway.proxy import Answer, Forwarded, Upstream, forward, make_upstream
from gateway.ratelimit import Limiter, Verdict
from shared import VERSION
from shared.app import MAX_BODY_BYTES, check_json_body, request_id_from
from shared.auth import JwksKeys, TokenVerifier
from shared.config import SERVICES, Config, Setting, parse_positive, resolve_config
from shared.errors import (
    PROBLEM_JSON,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    problem_body,
    to_problem,
)
from shared.logging import configure_logging
from shared.metrics import LATENCY, REQUESTS, render
from shared.wake import POLL_CHECK_PATH, POLL_WAIT_HEADER, WakeHub, answer_from

access_log = logging.getLogger("hugmood.access")

# The longest a poll is held here, whatever the upstream says (API.md: timeout 1..60 s); below
# gunicorn's graceful timeout, so a graceful stop lets held polls answer.
MAX_POLL_HOLD_SECONDS = 60.0

# What a forwarded path may carry unescaped: RFC 3986 pchar (unreserved, sub-delims, ":", "@")
# and "/". Not "%": a literal one in PATH_INFO was sent as %25 and must go on as %25.
PATH_SAFE = "/!$&'()*+,;=:@-._~"
_PATH_NEEDS_QUOTING = re.compile(f"[^A-Za-z0-9{re.escape(PATH_SAFE)}]").search

SETTINGS = [
    Setting(
        "GATEWAY_TRUSTED_PROXIES",
        lambda v: tuple(c.strip() for c in v.split(",") if c.strip()),
        (),
        help="CIDRs of proxies whose X-Forwarded-For is believed (default: none)",
    ),
    Setting("GATEWAY_RATE_WINDOW_SECONDS", parse_positive(int), 60, help="rate-limit window"),
    Setting("GATEWAY_RATE_LIMIT_PER_IP", parse_positive(int), 600, help="requests per window per client IP"),
    Setting("GATEWAY_RATE_LIMIT_PER_USER", parse_positive(int), 300, help="requests per window per user"),
    Setting(
        "GATEWAY_AUTH_RATE_LIMIT",
        parse_positive(int),
        10,
        help="login, register and reset requests per window per client IP",
    ),
    Setting("GATEWAY_CONNECT_TIMEOUT_SECONDS", parse_positive(float), 1.0, help="upstream connect timeout"),
    Setting("GATEWAY_UPSTREAM_TIMEOUT_SECONDS", parse_positive(float), 10.0, help="upstream read timeout"),
    Setting("GATEWAY_BREAKER_FAIL_MAX", parse_positive(int), 5, help="failures that open a circuit"),
    Setting("GATEWAY_BREAKER_RESET_SECONDS", parse_positive(float), 10.0, help="how long a circuit stays open"),
]


class Request:
    """The few parts of a WSGI request the hot path needs."""

    __slots__ = ("environ", "method", "path", "request_id", "started", "user_id", "route_name")

    def __init__(self, environ: dict[str, Any]):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO", "/")
        self.request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        self.started = time.perf_counter()
        self.user_id: str | None = None
        self.route_name = "<unmatched>"

    def body(self) -> bytes:
        length = self.environ.get("CONTENT_LENGTH")
        stream = self.environ["wsgi.input"]
        if length:
            return stream.read(min(int(length), MAX_BODY_BYTES + 1))
        return stream.read(MAX_BODY_BYTES + 1)

    def content_length(self) -> int | None:
        try:
            return int(self.environ["CONTENT_LENGTH"]) if self.environ.get("CONTENT_LENGTH") else None
        except ValueError:
            return None


class Gateway:
    """The WSGI application; ops and fleet endpoints are served here, everything else proxied."""

    def __init__(self, config: Config):
        self.config = config
        configure_logging("gateway", config.LOG_LEVEL)
        # Blocking pool: thousands of greenlets share a bounded set of connections and wait for one
        # (one EVALSHA takes ~0.1 ms). Every connection keeps a read buffer for good, and the
        # limiter's answers are a few bytes: a burst of polls must not leave hundreds behind.
        self.redis = redis.Redis(
            connection_pool=redis.BlockingConnectionPool.from_url(
                config.REDIS_URL,
                max_connections=64,
                socket_read_size=4096,
                timeout=1.0,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                health_check_interval=30,
            )
        )
        self.limiter = Limiter(self.redis, window=config.GATEWAY_RATE_WINDOW_SECONDS)
        self.keys = JwksKeys(config.AUTH_URL[0] + "/api/v1/auth/jwks", ttl=config.JWKS_CACHE_SECONDS)
        self.verifier = TokenVerifier(self.keys, issuer=config.JWT_ISSUER, audience=config.JWT_AUDIENCE)
        self.addresses = ClientAddress(config.GATEWAY_TRUSTED_PROXIES)
        self.upstreams: dict[str, Upstream] = {
            name: make_upstream(
                name,
                config[f"{name.upper()}_URL"],
                connect_timeout=config.GATEWAY_CONNECT_TIMEOUT_SECONDS,
                read_timeout=config.GATEWAY_UPSTREAM_TIMEOUT_SECONDS,
                fail_max=config.GATEWAY_BREAKER_FAIL_MAX,
                reset_timeout=config.GATEWAY_BREAKER_RESET_SECONDS,
            )
            for name in SERVICES
        }
        self.health_session = requests.Session()
        self.health_session.trust_env = False
        self._status_cache: tuple[float, dict[str, Any]] = (0.0, {})
        self.wake = WakeHub(config.REDIS_URL, process="gateway")
        self.data_rights = DataRights(self.upstreams, self.redis, self._caller_claims)
        self.local_endpoints: dict[tuple[str, str], Callable[[Request], tuple[int, Any]]] = {
            ("GET", "/healthz"): lambda r: (200, {"status": "ok", "service": "gateway", "version": VERSION}),
            ("GET", "/readyz"): self.readyz,
            ("GET", "/api/v1/status"): self.status,
            ("GET", "/api/v1/service-registry"): self.service_registry,
            ("GET", EXPORT_PATH): self.data_rights.export,
        }
        self.local_methods: dict[str, list[str]] = {}
        for method, path in self.local_endpoints:
            self.local_methods.setdefault(path, []).append(method)

    # ---- WSGI entry -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        req = Request(environ)
        extra_headers: list[tuple[str, str]] = []
        try:
            if req.method == "GET" and req.path == "/metrics":
                body, content_type = render()
                return self._respond(req, start_response, 200, [("Content-Type", content_type)], [body])
            local = self.local_endpoints.get((req.method, req.path))
            if local is not None:
                req.route_name = req.path
                status, payload = local(req)
                return self._json(req, start_response, status, payload)
            allowed = self.local_methods.get(req.path)
            if allowed:  # the gateway's own path, another method: 405 as on every route
                req.route_name = req.path
                raise MethodNotAllowed("The method is not allowed here.", headers={"Allow": ", ".join(allowed)})
            if req.method == "GET" and req.path.startswith(ERASURES_PREFIX):
                erased = req.path[len(ERASURES_PREFIX) :]
                if erased and "/" not in erased:
                    req.route_name = ERASURES_PREFIX + "{user_id}"
                    status, payload = self.data_rights.erasure_report(req, erased)
                    return self._json(req, start_response, status, payload)
            return self._proxy(req, start_response, extra_headers)
        except Exception as exc:  # every failure leaves as problem+json
            problem = to_problem(exc)
            return self._problem(req, start_response, problem, extra_headers)

    def _proxy(self, req: Request, start_response: Callable, extra_headers: list[tuple[str, str]]) -> Iterable[bytes]:
        route = routes.match(req.path)
        if route is None:
            raise NotFound("No such endpoint.")
        req.route_name = route.prefix
        key = routes.access_key(req.method, req.path)
        environ = req.environ
        client_ip, forwarded_for = self.addresses.resolve(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR")
        )
        # Every request of a limited route counts, even one refused for its body or token, so
        # garbage cannot be sent unmetered; the refusal still carries the RateLimit headers.
        refusal: ProblemError | None = None
        body: bytes | None = None
        claims = None
        try:
            if req.method in ("POST", "PUT", "PATCH", "DELETE"):
                body = req.body()
                check_json_body(
                    req.method,
                    environ.get("CONTENT_TYPE"),
                    req.content_length(),
                    lambda: body,
                    form_allowed=key in routes.FORM_BODIES,
                )
            if key not in routes.PUBLIC:
                claims = self.verifier.verify(environ.get("HTTP_AUTHORIZATION"))
        except ProblemError as exc:
            refusal = exc
        verdict = self._limit(key, client_ip, claims)
        extra_headers += [
            ("RateLimit-Limit", str(verdict.limit)),
            ("RateLimit-Remaining", str(verdict.remaining)),
            ("RateLimit-Reset", str(verdict.reset)),
        ]
        if not verdict.allowed:
            raise TooManyRequests("Too many requests; slow down.", headers={"Retry-After": str(max(verdict.reset, 1))})
        if refusal is not None:
            raise refusal
        if verdict.revoked:
            raise Unauthorized("The access token has been revoked.", code="auth.token_revoked")
        if claims is not None:
            req.user_id = claims["sub"]
        headers = {
            name[5:].replace("_", "-").title(): value
            for name, value in environ.items()
            if name.startswith("HTTP_") and name not in _DROPPED_REQUEST_HEADERS
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["X-Request-ID"] = req.request_id
        headers["X-Forwarded-For"] = forwarded_for
        headers["X-Real-IP"] = client_ip
        headers["X-Forwarded-Proto"] = environ.get("wsgi.url_scheme", "http")
        query = environ.get("QUERY_STRING")
        path_qs = upstream_path(req.path) + ("?" + query if query else "")
        upstream = self.upstreams[route.service]
        if route.long_poll and req.method == "GET" and claims is not None:
            forwarded = self._held_poll(upstream, query, headers, claims["sub"])
        else:
            forwarded = forward(upstream, req.method, path_qs, headers, body)
        if key == ACCOUNT_DELETION and forwarded.status == 202 and claims is not None:
            self.data_rights.account_deleted(claims["sub"])
        response_headers = [h for h in forwarded.headers if h[0].lower() != "x-request-id"]
        return self._respond(req, start_response, forwarded.status, response_headers + extra_headers, forwarded)

    def _held_poll(
        self, upstream: Upstream, query: str | None, headers: dict[str, str], user_id: str
    ) -> Forwarded | Answer:
        """A long poll, held here: the notification service only answers checks, at once.

        Ask; if it says there is nothing newer than the cursor (X-Poll-Wait > 0), wait for the
        user's wake-up or the poll's timeout. A wake-up whose news follows the poll's cursor
        directly is the answer (shared.wake); any other, ask again. The waiter is registered before
        the first check, so a notification committed after it cannot slip between check and wait.
        Nothing of the poll stays in the notification service or in an upstream connection while
        it is held, and a held poll costs this process a parked greenlet and its socket.

        The timeout is answered here too, without asking: no items and the poll's own cursor. The
        client's next poll, from that cursor, starts with a check, so a notification whose wake-up
        was lost is still delivered then. Asking at the timeout as well cost a second check per
        timed-out poll, and 10,000 polls held for 60 s time out ~170 times a second.
        """
        path_qs = POLL_CHECK_PATH + ("?" + query if query else "")
        cursor = _only_cursor(query)
        deadline: float | None = None
        with self.wake.waiting(user_id) as woken:
            while True:
                woken.clear()
                answer = forward(upstream, "GET", path_qs, headers, None)
                wait = _seconds(answer.pop_header(POLL_WAIT_HEADER))
                if answer.status != 200 or wait <= 0:
                    return answer
                now = time.monotonic()
                if deadline is None:
                    deadline = now + min(wait, MAX_POLL_HOLD_SECONDS)
                if deadline - now <= 0:
                    return answer  # the timeout, as the service answers it: no items, the same cursor
                answer.drain()
                del answer  # nothing of the check stays with the held poll
                if not woken.wait(deadline - now):
                    if cursor is not None:
                        return Answer(200, {"items": [], "cursor": cursor})  # the timeout
                    continue  # (a query with no single cursor: let the service say what it is)
                if woken.news is not None:
                    news = answer_from(woken.news, cursor)
                    if news is not None:
                        return Answer(200, news)

    def _limit(self, key: tuple[str, str], client_ip: str, claims: dict[str, Any] | None) -> Verdict:
        cfg = self.config
        strict = routes.STRICT.get(key)
        if strict:
            buckets = [(f"ip:{client_ip}:{strict}", cfg.GATEWAY_AUTH_RATE_LIMIT)]
        else:
            buckets = [(f"ip:{client_ip}", cfg.GATEWAY_RATE_LIMIT_PER_IP)]
        if claims is not None:
            buckets.append((f"user:{claims['sub']}", cfg.GATEWAY_RATE_LIMIT_PER_USER))
        try:
            return self.limiter.check(buckets, claims)
        except redis.RedisError as exc:
            if strict:
                return self.limiter.check_locally(buckets)
            if claims is not None:
                raise ServiceUnavailable(
                    "Token revocation cannot be checked right now.", code="auth.revocation_unavailable"
                ) from exc
            return Verdict(True, buckets[0][1], buckets[0][1], cfg.GATEWAY_RATE_WINDOW_SECONDS)

    # ---- responses ------------------------------------------------------------------------------

    def _respond(
        self, req: Request, start_response: Callable, status: int, headers: list[tuple[str, str]], body: Iterable[bytes]
    ) -> Iterable[bytes]:
        headers.append(("X-Request-ID", req.request_id))
        start_response(_status_line(status), headers)
        duration = time.perf_counter() - req.started
        REQUESTS.labels("gateway", req.method, req.route_name, str(status)).inc()
        LATENCY.labels("gateway", req.route_name).observe(duration)
        if req.path not in ("/metrics", "/healthz", "/readyz"):
            access_log.info(
                "request",
                extra={
                    "request_id": req.request_id,
                    "user_id": req.user_id,
                    "method": req.method,
                    "route": req.route_name,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                },
            )
        return body

    def _json(self, req: Request, start_response: Callable, status: int, payload: Any) -> Iterable[bytes]:
        data = json.dumps(payload).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ]
        return self._respond(req, start_response, status, headers, [data])

    def _problem(
        self, req: Request, start_response: Callable, problem: ProblemError, extra_headers: list[tuple[str, str]]
    ) -> Iterable[bytes]:
        data = problem_body(problem.status, problem.title, problem.detail, problem.code, problem.errors, req.request_id)
        headers = [
            ("Content-Type", PROBLEM_JSON),
            ("Content-Length", str(len(data))),
            *problem.headers.items(),
            *extra_headers,
        ]
        return self._respond(req, start_response, problem.status, headers, [data])

    # ---- fleet endpoints -----------------------------------------------------------------------

    def readyz(self, req: Request) -> tuple[int, Any]:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable("Redis is unreachable.", code="not_ready", retry_after=2) from exc
        return 200, {"status": "ready", "checks": {"redis": "ok"}}

    def _probe(self, url: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            response = self.health_session.get(url + "/readyz", timeout=(0.5, 1.0))
            up = response.status_code == 200
        except requests.RequestException:
            up = False
        version = None
        if up:
            try:
                version = self.health_session.get(url + "/healthz", timeout=(0.5, 1.0)).json().get("version")
            except (requests.RequestException, ValueError):
                version = None
        return {
            "url": url,
            "status": "up" if up else "down",
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "version": version,
        }

    def fleet_health(self) -> dict[str, Any]:
        """Probe every instance of every service at most once a second."""
        cached_at, cached = self._status_cache
        if time.monotonic() - cached_at < 1.0 and cached:
            return cached
        targets = [(name, inst.url) for name, up in self.upstreams.items() for inst in up.instances]
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            probes = list(pool.map(lambda t: self._probe(t[1]), targets))
        result: dict[str, Any] = {name: [] for name in self.upstreams}
        for (name, _), probe in zip(targets, probes, strict=True):
            result[name].append(probe)
        self._status_cache = (time.monotonic(), result)
        return result

    def _caller_claims(self, req: Request) -> dict[str, Any] | None:
        header = req.environ.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        claims = self.verifier.verify(header)
        verdict = self._limit(("GET", req.path), req.environ.get("REMOTE_ADDR", ""), claims)
        if verdict.revoked:
            raise Unauthorized("The access token has been revoked.", code="auth.token_revoked")
        req.user_id = claims["sub"]
        return claims

    def status(self, req: Request) -> tuple[int, Any]:
        try:
            claims = self._caller_claims(req)
        except ProblemError:  # a bad token, or Redis down: the public view still answers
            claims = None
        is_admin = claims is not None and "admin" in claims.get("roles", ())
        health = self.fleet_health()
        services = {}
        for name, instances in health.items():
            up = any(i["status"] == "up" for i in instances)
            entry: dict[str, Any] = {"status": "up" if up else "down"}
            if is_admin:
                live = [i["latency_ms"] for i in instances if i["status"] == "up"]
                entry.update(
                    latency_ms=min(live) if live else None,
                    instances=[{"url": i["url"], "status": i["status"]} for i in instances],
                    circuit=self.upstreams[name].breaker.current_state,
                )
            services[name] = entry
        ups = sum(1 for s in services.values() if s["status"] == "up")
        overall = "ok" if ups == len(services) else ("down" if ups == 0 else "degraded")
        return 200, {"status": overall, "services": services}

    def service_registry(self, req: Request) -> tuple[int, Any]:
        claims = self._caller_claims(req)
        if claims is None:
            raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
        if "admin" not in claims.get("roles", ()):
            raise Forbidden("The service registry is for administrators.")
        health = self.fleet_health()
        items = []
        for name, upstream in self.upstreams.items():
            instances = health[name]
            items.append(
                {
                    "name": name,
                    "instances": [
                        {"url": i["url"], "status": i["status"], "latency_ms": i["latency_ms"]} for i in instances
                    ],
                    "routes": routes.prefixes_of(name),
                    "health": "up" if any(i["status"] == "up" for i in instances) else "down",
                    "circuit_breaker": {
                        "state": upstream.breaker.current_state,
                        "failures": upstream.breaker.fail_counter,
                        "fail_max": upstream.breaker.fail_max,
                        "reset_timeout_seconds": upstream.breaker.reset_timeout,
                    },
                    "version": next((i["version"] for i in instances if i["version"]), None),
                }
            )
        return 200, {"services": items, "gateway": {"version": VERSION}}


_DROPPED_REQUEST_HEADERS = frozenset(
    {
        "HTTP_HOST",
        "HTTP_CONNECTION",
        "HTTP_KEEP_ALIVE",
        "HTTP_TE",
        "HTTP_TRAILER",
        "HTTP_TRANSFER_ENCODING",
        "HTTP_UPGRADE",
        "HTTP_PROXY_AUTHORIZATION",
        "HTTP_PROXY_CONNECTION",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_REQUEST_ID",
        "HTTP_X_FORWARDED_PROTO",
        "HTTP_CONTENT_LENGTH",
        "HTTP_CONTENT_TYPE",
    }
)


_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def upstream_path(path: str) -> str:
    """PATH_INFO percent-encoded again for the request line. WSGI hands it over decoded (as
    latin-1): forwarded as is, a NUL or a space is refused by the HTTP client (a 500 here) and
    non-ASCII bytes break the upstream's request line (its bare 400). Most paths need nothing."""
    if _PATH_NEEDS_QUOTING(path) is None:
        return path
    return quote(path.encode("latin-1"), safe=PATH_SAFE)


def _only_cursor(query: str | None) -> str | None:
    """The poll's cursor, if its query string gives exactly one."""
    cursors = parse_qs(query or "", keep_blank_values=True).get("cursor", [])
    return cursors[0] if len(cursors) == 1 else None


def _seconds(value: str | None) -> float:
    """A number of seconds from a header; 0 for none or garbage."""
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _status_line(status: int) -> str:
    return _STATUS_LINES.get(status) or f"{status} Unknown"


def create_app(config: dict[str, Any] | None = None) -> Gateway:
    """Build the gateway WSGI app."""
    config = resolve_config("gateway", config, SETTINGS)
    return Gateway(config)


def wsgi_app() -> Callable[[dict[str, Any], Callable], Iterable[bytes]]:
    """The gateway as the Procfile's gunicorn serves it: the app's bound `__call__`. The server's
    Python code then calls it as Python calls Python; calling the instance would go through C
    (`tp_call`), and every held long poll would keep that C frame in its parked greenlet's saved
    stack (~0.8 KB a poll, measured with 3,000 held)."""
    return create_app().__call__
