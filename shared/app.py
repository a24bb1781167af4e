"""The app-factory base every HugMood service builds on."""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import redis
from flask import Flask, Response, g, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from shared import VERSION
from shared.api import Api
from shared.auth import Denylist, JwksKeys, init_token_verification
from shared.config import SERVICES, Config
from shared.db import engine_options, ping_when_idle, service_database_url
from shared.errors import (
    BadRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
    handle_exception,
)
from shared.http import ServiceClient, ServiceTokens
from shared.logging import configure_logging
from shared.metrics import LATENCY, REQUESTS, method_label, render
from shared.openapi import document, operation
from shared.readiness import Readiness

MAX_BODY_BYTES = 64 * 1024
# A file upload (multipart/form-data) of a route that takes one may be this big.
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
OPS_ENDPOINTS = frozenset({"healthz", "readyz", "metrics", "openapi"})
_REQUEST_ID = re.compile(r"\A[A-Za-z0-9._-]{1,128}\Z")
access_log = logging.getLogger("hugmood.access")


OPS_BODY = {"type": "object", "additionalProperties": True}
REDIS_POOL_SIZE = 64  # per process; the gateway has its own, larger pool


def request_id_from(header: str | None) -> str:
    """The client's request id when it is sane, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


UNSTORABLE_TEXT = "Text cannot contain NUL characters or unpaired surrogates."


def _storable(text: str) -> bool:
    """False for text PostgreSQL cannot store: a NUL character, or a lone UTF-16 surrogate (a JSON
    escape such as \\ud800 decodes to one) that has no UTF-8 form."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_field(document: Any) -> str | None:
    """The dotted path of the first key or string in a decoded JSON document that is not storable
    ("" for the document itself), or None. Iterative: a document nested a thousand deep is fine."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not _storable(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if not _storable(key):
                    return path or "body"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}" if path else str(index), item) for index, item in enumerate(value))
    return None


def refuse_unstorable(document: Any) -> None:
    """422 naming the field whose text has a NUL or a lone surrogate (a 500 from the database otherwise)."""
    field = unstorable_field(document)
    if field is not None:
        raise ValidationFailed(UNSTORABLE_TEXT, errors={field or "body": [UNSTORABLE_TEXT]})


def refuse_unstorable_params(pairs: Iterable[tuple[str, str]]) -> None:
    """refuse_unstorable for a query string or form body: every value of a repeated name counts,
    whichever one the handler goes on to read."""
    params: dict[str, str] = {}
    for name, value in pairs:
        params[name] = params.get(name, "") + value
    refuse_unstorable(params)


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; PostgreSQL's does not


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e309: a number JSON allows and no double holds
        raise ValueError(f"{text} is out of range")
    return number


def check_json_body(
    method: str,
    content_type: str | None,
    content_length: int | None,
    read: Callable[[], bytes],
    *,
    form_allowed: bool = False,
) -> None:
    """413 for bodies over 64 KiB, 415 for non-JSON bodies, 400 for malformed (or absurdly deeply
    nested) JSON, 422 for text a database cannot store (NUL, lone surrogates)."""
    if method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return
    if content_length is not None and content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES} bytes.")
    body = read()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES} bytes.")
    if not body:
        return
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if form_allowed and mimetype == "application/x-www-form-urlencoded":
        refuse_unstorable_params(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("The body must be application/json.")
    try:
        document = json.loads(body, parse_constant=_not_json, parse_float=_finite)
    except RecursionError as exc:
        raise BadRequest("The body is nested too deeply.", code="malformed_json") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The body is not valid JSON.", code="malformed_json") from exc
    refuse_unstorable(document)


def check_upload(content_type: str | None, content_length: int | None, limit: int = MAX_UPLOAD_BYTES) -> None:
    """413 for an upload declared over `limit`, 415 for a body that is not multipart/form-data."""
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge(f"The upload is over {limit} bytes.")
    if (content_type or "").split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data.")


class ServiceApp:
    """What create_base_app hands back to a service: its Flask app, Api, and collaborators."""

    def __init__(self, app: Flask, api: Api, redis_client: redis.Redis, client: ServiceClient):
        self.app = app
        self.api = api
        self.redis = redis_client
        self.client = client


def create_base_app(
    service: str,
    config: Config,
    *,
    db: SQLAlchemy | None = None,
    public_endpoints: Iterable[str] = (),
    form_endpoints: Iterable[str] = (),
    upload_endpoints: Iterable[str] = (),
    jwks: JwksKeys | None = None,
) -> ServiceApp:
    """A Flask app with problem+json errors, request ids, JSON access logs, ops endpoints,
    token verification on every non-public endpoint, and (optionally) the service's database."""
    configure_logging(service, config.LOG_LEVEL)
    app = Flask(f"hugmood.{service}", static_folder=None)  # no /static route: a service serves no files
    app.config["HUGMOOD"] = config
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    # A blocking pool: when every connection is busy (a burst of gevent requests), a request waits up
    # to 2 s for one instead of failing at once (redis-py's plain pool raises "Too many connections").
    redis_client = redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(
            config.REDIS_URL,
            max_connections=REDIS_POOL_SIZE,
            timeout=2.0,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            health_check_interval=30,
        )
    )
    app.extensions["redis"] = redis_client
    public = OPS_ENDPOINTS | frozenset(public_endpoints)
    form_ok = frozenset(form_endpoints)
    uploads = frozenset(upload_endpoints)

    if db is not None:
        app.config["SQLALCHEMY_DATABASE_URI"] = config.get("SQLALCHEMY_DATABASE_URI") or service_database_url(
            service, config
        )
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(service)
        db.init_app(app)
        with app.app_context():
            ping_when_idle(db.engine)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        if request.endpoint in uploads and request.method == "POST":
            # Werkzeug spools the file to disk as it parses; a body longer than declared still stops here.
            check_upload(request.content_type, request.content_length)
            request.max_content_length = MAX_UPLOAD_BYTES
        else:
            check_json_body(
                request.method,
                request.content_type,
                request.content_length,
                lambda: request.get_data(cache=True),
                form_allowed=request.endpoint in form_ok,
            )
        if request.query_string:
            refuse_unstorable_params(request.args.items(multi=True))

    keys = jwks or JwksKeys(config.AUTH_URL[0] + "/api/v1/auth/jwks", ttl=config.JWKS_CACHE_SECONDS)
    app.extensions["jwks"] = keys
    init_token_verification(
        app,
        keys=keys,
        denylist=Denylist(redis_client),
        issuer=config.JWT_ISSUER,
        audience=config.JWT_AUDIENCE,
        is_public=lambda endpoint: endpoint in public,
    )

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or request_id_from(None)
        if response.status_code == 204:  # no content, so no type (Flask gives every response text/html)
            response.headers.pop("Content-Type", None)
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        duration = time.perf_counter() - g.get("started", time.perf_counter())
        REQUESTS.labels(service, method_label(request.method), route, str(response.status_code)).inc()
        LATENCY.labels(service, route).observe(duration)
        if request.endpoint not in OPS_ENDPOINTS:
            access_log.info(
                "request",
                extra={
                    "request_id": g.get("request_id"),
                    "user_id": g.get("user_id"),
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                },
            )
        return response

    app.register_error_handler(Exception, handle_exception)

    @app.get("/healthz", endpoint="healthz")
    @operation("Liveness: the process answers", response=OPS_BODY)
    def healthz() -> Response:
        body = {"status": "ok", "service": service, "version": VERSION}
        return Response(json.dumps(body), mimetype="application/json")

    readiness = Readiness(config.READINESS_GRACE_SECONDS)

    @app.get("/readyz", endpoint="readyz")
    @operation("Readiness: PostgreSQL and Redis reachable", response=OPS_BODY, errors=((503, "not_ready"),))
    def readyz() -> Response:
        checks: dict[str, bool] = {}
        try:
            redis_client.ping()
            checks["redis"] = True
        except redis.RedisError:
            checks["redis"] = False
        if db is not None:
            try:
                with db.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                checks["database"] = True
            except Exception:
                checks["database"] = False
        ready, body = readiness.assess(checks)
        if not ready:
            raise ServiceUnavailable(f"Not ready: {json.dumps(body)}", code="not_ready", retry_after=2)
        return Response(json.dumps(body), mimetype="application/json")

    @app.get("/metrics", endpoint="metrics")
    @operation("Prometheus metrics", response={"type": "string"}, content_type="text/plain")
    def metrics() -> Response:
        body, content_type = render()
        return Response(body, content_type=content_type)

    @app.get("/openapi.json", endpoint="openapi")
    @operation("This service's OpenAPI 3.1 document", response={"type": "object"})
    def openapi() -> Response:
        if "openapi" not in app.extensions:  # built once, after the service has mounted its resources
            app.extensions["openapi"] = json.dumps(
                document(
                    app,
                    title=f"HugMood {service} service",
                    version=VERSION,
                    public=lambda endpoint: endpoint in public,
                    name_prefix=f"{service}.",
                )
            )
        return Response(app.extensions["openapi"], mimetype="application/json")

    api = Api(app, catch_all_404s=True)
    client = ServiceClient(
        service,
        {name: config[f"{name.upper()}_URL"] for name in SERVICES},
        timeout=config.HTTP_TIMEOUT_SECONDS,
        token_provider=ServiceTokens(service, config.get("SERVICE_CLIENT_SECRET", ""), config.AUTH_URL),
    )
    app.extensions["service_client"] = client
    return ServiceApp(app, api, redis_client, client)
