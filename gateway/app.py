"""The API gateway, a Flask app: request id → token check → rate limit + denylist → proxy, streamed back."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote

import redis
from flask import Flask, Response
from flask.globals import request_ctx
from flask.typing import ResponseReturnValue
from geventhttpclient.response import HTTPParseError
from werkzeug.exceptions import MethodNotAllowed as RoutingMethodNotAllowed
from werkzeug.routing import Rule

from gateway import routes
from gateway.auth import ClientAddress
from gateway.circuits import CircuitBoard
from gateway.contract import contract
from gateway.cors import Cors, is_preflight, parse_origins
from gateway.datarights import ACCOUNT_DELETION, DataRights, data_rights
from gateway.fleet import FleetHealth, fleet
from gateway.idempotency import REPLAYED_HEADER, IdempotencyStore, Lease, Replay, fingerprint, keeps, parse_key
from gateway.ops import OPS_ONLY, ops
from gateway.proxy import Answer, Forwarded, Upstream, forward, make_upstream
from gateway.web import GatewayRequest, GatewayResponse, NoHeadRule
from gateway.webapp import shared_page_for, wants_html, webapp
from shared.app import MAX_UPLOAD_BYTES, check_json_body, check_upload
from shared.auth import JwksKeys, TokenVerifier
from shared.config import DEFAULT_PORTS, SERVICES, Config, Setting, parse_positive, parse_url_list, resolve_config
from shared.errors import (
    PROBLEM_JSON,
    BadGateway,
    BadRequest,
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
from shared.metrics import LATENCY, REQUESTS, method_label
from shared.ratelimit import SETTINGS as RATE_LIMIT_SETTINGS
from shared.ratelimit import Limiter, Verdict, strict_bucket
from shared.readiness import Readiness
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
    *RATE_LIMIT_SETTINGS,
    Setting("GATEWAY_RATE_LIMIT_PER_IP", parse_positive(int), 600, help="requests per window per client IP"),
    Setting("GATEWAY_RATE_LIMIT_PER_USER", parse_positive(int), 300, help="requests per window per user"),
    Setting("GATEWAY_CONNECT_TIMEOUT_SECONDS", parse_positive(float), 1.0, help="upstream connect timeout"),
    Setting("GATEWAY_UPSTREAM_TIMEOUT_SECONDS", parse_positive(float), 10.0, help="upstream read timeout"),
    Setting(
        "GATEWAY_BODY_TIMEOUT_SECONDS",
        parse_positive(float),
        10.0,
        help="how long a request body may take to arrive (then 408)",
    ),
    Setting(
        "GRAPHQL_URL",
        parse_url_list("http", "https"),
        (f"http://127.0.0.1:{DEFAULT_PORTS['graphql']}",),
        help="base URL(s) of the GraphQL gateway, which the gateway forwards /graphql to",
    ),
    Setting("GATEWAY_BREAKER_FAIL_MAX", parse_positive(int), 5, help="failures that open a circuit"),
    Setting("GATEWAY_BREAKER_RESET_SECONDS", parse_positive(float), 10.0, help="how long a circuit stays open"),
    Setting(
        "GATEWAY_OPS_PORT",
        parse_positive(int),
        9100,
        help="the gateway's second port (the Procfile binds it): /readyz and /metrics answer only there, "
        "and nothing else does but /healthz",
    ),
    Setting(
        "GATEWAY_IDEMPOTENCY_LEASE_SECONDS",
        parse_positive(float),
        60.0,
        help="how long a POST holds its Idempotency-Key before a retry may run it (at least the upstream timeouts)",
    ),
    Setting(
        "GATEWAY_CORS_ORIGINS",
        parse_origins,
        frozenset(),
        help="comma-separated origins browsers may call the API from (default: none, no CORS headers)",
    ),
]


# The gateway's own endpoints; every other path is proxied.
OWN_BLUEPRINTS = (ops, fleet, data_rights, contract)


class Gateway(Flask):
    """The gateway's Flask app. Its own endpoints are blueprints (gateway.ops, gateway.fleet,
    gateway.datarights, gateway.webapp); a path none of their rules routes goes to the proxy (dispatch_request)."""

    request_class = GatewayRequest
    response_class = GatewayResponse
    url_rule_class = NoHeadRule

    def __init__(self, config: Config):
        super().__init__("gateway", static_folder=None)  # no /static route until there are files to serve
        self.config["HUGMOOD"] = config
        # Another method on an own path is 405 with Allow, as on every route, never an automatic answer.
        self.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
        # No redirect ever leaves: its Location would name this process's own host.
        self.url_map.merge_slashes = False
        self.url_map.redirect_defaults = False
        self.settings = config
        self.ops_port = str(config.GATEWAY_OPS_PORT)
        configure_logging("gateway", config.LOG_LEVEL)
        # Blocking pool: thousands of greenlets share a bounded set of connections and wait for one
        # (a Redis round trip is short next to a request). Every connection keeps a read buffer
        # for good, and the limiter's answers are a few bytes: a burst of polls must not leave
        # hundreds behind.
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
        self.readiness = Readiness(config.READINESS_GRACE_SECONDS)
        self.limiter = Limiter(self.redis, window=config.GATEWAY_RATE_WINDOW_SECONDS)
        self.keys = JwksKeys(config.AUTH_URL[0] + "/api/v1/auth/jwks", ttl=config.JWKS_CACHE_SECONDS)
        self.verifier = TokenVerifier(self.keys, issuer=config.JWT_ISSUER, audience=config.JWT_AUDIENCE)
        self.addresses = ClientAddress(config.GATEWAY_TRUSTED_PROXIES)
        self.cors = Cors(config.GATEWAY_CORS_ORIGINS)
        # A lease shorter than a request may take would let a retry run while the first still does.
        self.idempotency = IdempotencyStore(
            self.redis,
            lease_seconds=max(
                config.GATEWAY_IDEMPOTENCY_LEASE_SECONDS,
                config.GATEWAY_CONNECT_TIMEOUT_SECONDS + config.GATEWAY_UPSTREAM_TIMEOUT_SECONDS + 1,
            ),
        )
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
        # Not a service: no entry in the status or the registry, but a circuit like theirs.
        self.graphql = make_upstream(
            "graphql",
            config.GRAPHQL_URL,
            connect_timeout=config.GATEWAY_CONNECT_TIMEOUT_SECONDS,
            read_timeout=config.GATEWAY_UPSTREAM_TIMEOUT_SECONDS,
            fail_max=config.GATEWAY_BREAKER_FAIL_MAX,
            reset_timeout=config.GATEWAY_BREAKER_RESET_SECONDS,
        )
        self.fleet = FleetHealth(self.upstreams, on_ready=lambda name: self.circuits.instance_ready(name))
        self.circuits = CircuitBoard(self.redis, self.upstreams, self.fleet.ready)
        self.wake = WakeHub(config.REDIS_URL, process="gateway")
        self.data_rights = DataRights(self.upstreams, self.redis, self.caller_claims)
        for blueprint in OWN_BLUEPRINTS:
            self.register_blueprint(blueprint)
        # The web app is a client of the API that the gateway happens to serve: its pages and its
        # cookie session routes (same origin only, CSRF-guarded) are not part of the published API.
        self.register_blueprint(webapp)
        self.register_error_handler(Exception, self.problem)
        self.after_request(self.finish)

    def ensure_sync(self, func: Callable) -> Callable:
        """Every hook and view here is synchronous: skip Flask's per-call coroutine check."""
        return func

    # ---- dispatch ---------------------------------------------------------------------------------

    def dispatch_request(self) -> ResponseReturnValue:
        """An own endpoint by its rule; any path no rule routes is proxied (the catch-all).

        The proxy is called here, not as a rule's view: Flask calls a view with **view_args, a
        call CPython 3.11 makes through C, and every held long poll would keep that C frame in
        its parked greenlet's saved stack."""
        req: GatewayRequest = request_ctx.request  # type: ignore[assignment]
        self.circuits.start()  # here, not at creation: in the worker that serves, after its fork
        routing = req.routing_exception
        if req.environ.get("SERVER_PORT") == self.ops_port:
            if req.wsgi_path not in OPS_PATHS:
                raise NotFound("The ops port answers /healthz, /readyz and /metrics only.")
        elif is_preflight(req.environ):
            return self.preflight(req)
        elif req.wsgi_path in OPS_ONLY:
            return self.proxy(req)  # on the public port: metered, and no route serves it
        if req.wsgi_path.startswith("//"):  # routing read it without its leading slashes: no rule owns it
            return self.proxy(req)
        if routing is None:
            req.route_name = _route_label(req.url_rule)  # type: ignore[arg-type]
            if req.wsgi_path not in UNMETERED:
                self.meter(req)
            return super().dispatch_request()
        if isinstance(routing, RoutingMethodNotAllowed):  # an own path, another method
            self.meter(req)
            allowed = sorted(routing.valid_methods or ())
            rule, _ = request_ctx.url_adapter.match(method=allowed[0], return_rule=True)  # type: ignore[union-attr]
            req.route_name = _route_label(rule)
            raise MethodNotAllowed("The method is not allowed here.", headers={"Allow": ", ".join(allowed)})
        return self.proxy(req)

    def proxy(self, req: GatewayRequest) -> GatewayResponse:
        route = routes.match(req.wsgi_path)
        if route is None:
            self.meter(req)  # a path nothing serves still counts: no one probes unmetered
            raise NotFound("No such endpoint.")
        req.route_name = route.prefix
        key = routes.access_key(req.method, req.wsgi_path)
        environ = req.environ
        client_ip, forwarded_for = self.addresses.resolve(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR")
        )
        # Every request of a limited route counts, even one refused for its body or token, so
        # garbage cannot be sent unmetered; the refusal still carries the RateLimit headers.
        refusal: ProblemError | None = None
        body: bytes | None = None
        claims = None
        idempotency_key: str | None = None
        try:
            if req.method == "POST":
                idempotency_key = parse_key(environ.get("HTTP_IDEMPOTENCY_KEY"))
            if key in routes.UPLOADS:
                # A file upload: refused by its declared size and type before it is read.
                try:
                    check_upload(environ.get("CONTENT_TYPE"), req.body_length())
                except ProblemError:
                    req.stop_reading()
                    raise
                body = req.body(self.settings.GATEWAY_BODY_TIMEOUT_SECONDS, MAX_UPLOAD_BYTES)
            elif req.method in ("POST", "PUT", "PATCH", "DELETE"):
                body = req.body(self.settings.GATEWAY_BODY_TIMEOUT_SECONDS)
                check_json_body(
                    req.method,
                    environ.get("CONTENT_TYPE"),
                    req.body_length(),
                    lambda: body,
                    form_allowed=key in routes.FORM_BODIES,
                )
                if key == routes.TOKEN and _grants_client_credentials(environ.get("CONTENT_TYPE"), body):
                    raise BadRequest(
                        "grant_type client_credentials is not served here; services ask the auth service directly.",
                        code="unsupported_grant_type",
                    )
            token_optional = key in routes.TOKEN_OPTIONAL and not environ.get("HTTP_AUTHORIZATION")
            if key not in routes.PUBLIC and not token_optional:
                claims = self.verifier.verify(environ.get("HTTP_AUTHORIZATION"))
        except ProblemError as exc:
            refusal = exc
        verdict = self.limit(key, client_ip, claims)
        req.extra_headers += [
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
        path_qs = upstream_path(req.wsgi_path) + ("?" + query if query else "")
        upstream = self.graphql if route is routes.GRAPHQL else self.upstreams[route.service]
        if idempotency_key is not None:
            scope = f"user:{claims['sub']}" if claims is not None else f"ip:{client_ip}"
            print_ = fingerprint(req.method, req.wsgi_path + "?" + (query or ""), environ.get("CONTENT_TYPE"), body)
            outcome = self.idempotency.begin(scope, idempotency_key, print_)
            if isinstance(outcome, Replay):
                replayed = [*outcome.headers, (REPLAYED_HEADER, "true"), *req.extra_headers]
                return self.response_class([outcome.body], outcome.status, replayed)
            return self.idempotent_post(outcome, upstream, path_qs, headers, body, req)
        if route.long_poll and req.method == "GET" and claims is not None:
            forwarded = self.held_poll(upstream, query, headers, claims["sub"])
        elif key == routes.SHARED_VIEW and wants_html(environ):  # a browser opening a share_url
            return shared_page_for(lambda: forward(upstream, req.method, path_qs, headers, body))
        else:
            forwarded = forward(upstream, req.method, path_qs, headers, body)
        if key == ACCOUNT_DELETION and forwarded.status == 202 and claims is not None:
            self.data_rights.account_deleted(claims["sub"])
        response_headers = [h for h in forwarded.headers if h[0].lower() != "x-request-id"]
        return self.response_class(forwarded, forwarded.status, response_headers + req.extra_headers)

    def idempotent_post(
        self,
        lease: Lease,
        upstream: Upstream,
        path_qs: str,
        headers: dict[str, str],
        body: bytes | None,
        req: GatewayRequest,
    ) -> GatewayResponse:
        """Forward a POST that holds its Idempotency-Key's lease, and keep its answer for a retry.

        The answer is read whole (a POST's answer is one small object) so it can be stored before
        it is sent. An answer the service gave that is not the request's outcome (429, 5xx: it
        committed nothing) releases the key, and so does an open circuit (nothing was sent): a
        retry runs again. When the outcome is unknown (a timeout, a connection lost after the
        request went out, an answer cut off) the service may have created the object, so the lease
        is left to expire: a retry meanwhile is 409, and one after it runs again."""
        try:
            forwarded = forward(upstream, "POST", path_qs, headers, body)
        except ServiceUnavailable:  # the circuit is open: the request never left
            lease.release()
            raise
        try:
            data = b"".join(forwarded)
        except (OSError, HTTPParseError) as exc:
            raise BadGateway(f"The {upstream.name} service's answer was cut off.") from exc
        response_headers = [h for h in forwarded.headers if h[0].lower() != "x-request-id"]
        if keeps(forwarded.status):
            lease.complete(forwarded.status, response_headers, data)
        elif forwarded.status not in (502, 504):  # (an upstream proxy's: outcome unknown)
            lease.release()
        return self.response_class([data], forwarded.status, response_headers + req.extra_headers)

    def held_poll(
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
        was lost is still delivered then. Asking at the timeout as well would cost a second check
        per timed-out poll, and 10,000 polls held for 60 s time out ~170 times a second.
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

    def preflight(self, req: GatewayRequest) -> GatewayResponse:
        """A CORS preflight, on any path: answered here, never proxied and never asked for a token.

        It is counted in a bucket of its own per client IP, so a browser's preflights spend none of
        the limits meant for real requests, and a flood of them is still bounded (Redis down: they
        are answered unmetered, they carry no token and reach nothing behind the gateway). An origin
        not in GATEWAY_CORS_ORIGINS gets 403 problem+json with no CORS header: the browser then
        refuses the cross-origin request."""
        req.route_name = PREFLIGHT
        verdict = self.limit(("OPTIONS", PREFLIGHT), self.client_ip(req), None, bucket_suffix=":preflight")
        if not verdict.allowed:
            raise TooManyRequests("Too many requests; slow down.", headers={"Retry-After": str(max(verdict.reset, 1))})
        origin = req.environ["HTTP_ORIGIN"]
        if not self.cors.allows(origin):
            raise Forbidden("This origin may not call the API from a browser.", code="cors.origin_not_allowed")
        return self.response_class([], 204, self.cors.preflight_headers(origin))

    def meter(self, req: GatewayRequest) -> None:
        """Count a request the proxy does not (an own endpoint, a path nothing serves) against
        its client's IP bucket; 429 past the limit. Its token, if any, is metered with the user's
        bucket when the endpoint reads it (caller_claims)."""
        client_ip = self.client_ip(req)
        verdict = self.limit(("GET", req.wsgi_path), client_ip, None)
        req.extra_headers += [
            ("RateLimit-Limit", str(verdict.limit)),
            ("RateLimit-Remaining", str(verdict.remaining)),
            ("RateLimit-Reset", str(verdict.reset)),
        ]
        if not verdict.allowed:
            raise TooManyRequests("Too many requests; slow down.", headers={"Retry-After": str(max(verdict.reset, 1))})

    def client_ip(self, req: GatewayRequest) -> str:
        environ = req.environ
        return self.addresses.resolve(environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR"))[0]

    def limit(
        self,
        key: tuple[str, str],
        client_ip: str,
        claims: dict[str, Any] | None,
        *,
        count_ip: bool = True,
        bucket_suffix: str = "",
    ) -> Verdict:
        cfg = self.settings
        strict = routes.STRICT.get(key)
        buckets = []
        if strict:
            buckets.append(strict_bucket(client_ip, strict, cfg.GATEWAY_AUTH_RATE_LIMIT))
        elif count_ip:
            buckets.append((f"ip:{client_ip}{bucket_suffix}", cfg.GATEWAY_RATE_LIMIT_PER_IP))
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

    def caller_claims(self, req: GatewayRequest) -> dict[str, Any] | None:
        """The caller's verified claims for an own endpoint (None without a token), metered and
        checked against the denylist like a proxied request."""
        header = req.environ.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        claims = self.verifier.verify(header)
        # The IP bucket was counted on the way in (meter); here the user's, with the denylist.
        verdict = self.limit(("GET", req.wsgi_path), self.client_ip(req), claims, count_ip=False)
        if not verdict.allowed:
            raise TooManyRequests("Too many requests; slow down.", headers={"Retry-After": str(max(verdict.reset, 1))})
        if verdict.revoked:
            raise Unauthorized("The access token has been revoked.", code="auth.token_revoked")
        req.user_id = claims["sub"]
        return claims

    # ---- answers ----------------------------------------------------------------------------------

    def problem(self, exc: Exception) -> GatewayResponse:
        """Every failure, Flask's routing errors too, leaves as problem+json."""
        req: GatewayRequest = request_ctx.request  # type: ignore[assignment]
        problem = to_problem(exc)
        data = problem_body(problem.status, problem.title, problem.detail, problem.code, problem.errors, req.request_id)
        headers = [
            ("Content-Type", PROBLEM_JSON),
            ("Content-Length", str(len(data))),
            *problem.headers.items(),
            *req.extra_headers,
        ]
        return self.response_class([data], problem.status, headers)

    def finish(self, response: Response) -> Response:
        """The request id on every answer; its metrics and access log line (ops paths: metrics only)."""
        req: GatewayRequest = request_ctx.request  # type: ignore[assignment]
        response.headers.add("X-Request-ID", req.request_id)
        if req.route_name != PREFLIGHT:  # a preflight's answer has its own CORS headers, or none
            for name, value in self.cors.answer_headers(req.environ.get("HTTP_ORIGIN")):
                response.headers.add(name, value)
        if req.extra_headers and "RateLimit-Limit" not in response.headers:  # an own endpoint's answer
            for name, value in req.extra_headers:
                response.headers.add(name, value)
        status = response.status_code
        duration = time.perf_counter() - req.started
        REQUESTS.labels("gateway", method_label(req.method), req.route_name, str(status)).inc()
        LATENCY.labels("gateway", req.route_name).observe(duration)
        if req.wsgi_path not in OPS_PATHS:
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
        return response


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


def _grants_client_credentials(content_type: str | None, body: bytes | None) -> bool:
    """Whether a token request (form or JSON, already checked) asks for client_credentials.
    Service tokens are the auth service's to issue to services, which ask it directly: through
    the public gateway the grant would only be an online guessing target for their secrets."""
    if not body:
        return False
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype == "application/x-www-form-urlencoded":
        grants = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get("grant_type", [])
        return "client_credentials" in grants
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("grant_type") == "client_credentials"


# The route label of CORS preflights (metrics, logs).
PREFLIGHT = "<preflight>"

# Liveness probes come often and from the orchestrator: never metered.
UNMETERED = frozenset({"/healthz"})
OPS_PATHS = OPS_ONLY | {"/healthz"}


def upstream_path(path: str) -> str:
    """PATH_INFO percent-encoded again for the request line. WSGI hands it over decoded (as
    latin-1): forwarded as is, a NUL or a space is refused by the HTTP client (a 500 here) and
    non-ASCII bytes break the upstream's request line (its bare 400). Most paths need nothing."""
    if _PATH_NEEDS_QUOTING(path) is None:
        return path
    return quote(path.encode("latin-1"), safe=PATH_SAFE)


def _route_label(rule: Rule) -> str:
    """A rule as metrics and logs name it: "/api/v1/admin/erasures/{user_id}"."""
    return _CONVERTER.sub(r"{\1}", rule.rule)


_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


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


def create_app(config: dict[str, Any] | None = None) -> Gateway:
    """Build the gateway's Flask app."""
    config = resolve_config("gateway", config, SETTINGS)
    return Gateway(config)


def wsgi_app() -> Callable[[dict[str, Any], Callable], Iterable[bytes]]:
    """The gateway as the Procfile's gunicorn serves it: the Flask app's bound `wsgi_app`. The
    server's Python code then calls it as Python calls Python; calling the app instance would go
    through C (`tp_call`, then Flask's `__call__`), and every held long poll would keep that C
    frame in its parked greenlet's saved stack, copied to the heap for as long as the poll waits."""
    return create_app().wsgi_app
