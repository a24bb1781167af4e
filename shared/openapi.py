"""OpenAPI 3.1 documents generated from a Flask app's routes and the marshmallow schemas its
Flask-RESTful resources load and dump (apispec and its marshmallow plugin).

Each view method says what it takes and answers with `@operation(...)`, next to its code: the
schemas it loads (`body`, `query`), the one it dumps (`response`, or `page` for a list), and the
error classes it raises (their status and code come from the classes themselves). A route whose
view has no `@operation` makes `document()` fail, so a route cannot exist undocumented.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from shared.api import Api
from shared.errors import (
    PROBLEM_BASE,
    PROBLEM_JSON,
    PayloadTooLarge,
    ProblemError,
    UnsupportedMediaType,
    ValidationFailed,
)

OPENAPI_VERSION = "3.1.0"
F = TypeVar("F", bound=Callable[..., Any])
SchemaLike = type[Schema] | Schema | Mapping[str, Any]
# An error an operation answers with: an error class, or (status, code) for a code raised with `code=`.
ErrorSpec = type[ProblemError] | tuple[int, str]

BEARER = "bearerAuth"
TOKEN_ERRORS: tuple[ErrorSpec, ...] = (
    (401, "auth.token_missing"),
    (401, "auth.token_invalid"),
    (401, "auth.token_expired"),
    (401, "auth.token_revoked"),
    (503, "auth.revocation_unavailable"),
    (503, "auth.jwks_unavailable"),
)
BODY_ERRORS: tuple[ErrorSpec, ...] = ((400, "malformed_json"), PayloadTooLarge, UnsupportedMediaType, ValidationFailed)
# What any service route may meet on the way: its database, Redis, or a service it calls being down.
DEPENDENCY_ERRORS: tuple[ErrorSpec, ...] = (
    (503, "database.unavailable"),
    (503, "database.busy"),
    (503, "redis.unavailable"),
    (503, "upstream.unavailable"),
    (503, "upstream.circuit_open"),
    (502, "bad_gateway"),
    (504, "gateway_timeout"),
)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: every error of the API but the token endpoint's.",
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "description": f"`{PROBLEM_BASE}{{code}}`: the page that says what the code means.",
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable, machine-readable error code."},
        "request_id": {"type": ["string", "null"], "description": "The X-Request-ID of the request."},
        "errors": {
            "type": "object",
            "description": "Per field, its messages (validation failures).",
            "additionalProperties": True,
        },
    },
}


UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}},
}


@dataclass(frozen=True)
class Operation:
    """What one view method takes and answers (see `operation`)."""

    summary: str
    description: str = ""
    query: SchemaLike | None = None
    body: SchemaLike | None = None
    form: bool = False
    upload: bool = False  # a multipart/form-data body with one file, `file`
    response: SchemaLike | None = None
    page: SchemaLike | None = None
    status: int | tuple[int, ...] = 200
    content_type: str = "application/json"
    errors: tuple[ErrorSpec, ...] = ()
    responses: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    location: bool = False
    conditional: bool = False
    path: Mapping[str, str] = field(default_factory=dict)
    example: Any = None
    public: bool | None = None


def operation(summary: str, **details: Any) -> Callable[[F], F]:
    """Document the decorated view (a resource method or a view function); see Operation."""
    spec = Operation(summary, **details)

    def mark(func: F) -> F:
        func.openapi = spec  # type: ignore[attr-defined]
        return func

    return mark


class UndocumentedRoute(LookupError):
    """A route whose view has no @operation."""


def error_of(spec: ErrorSpec) -> tuple[int, str]:
    """(status, code) of an operation's error entry."""
    return spec if isinstance(spec, tuple) else (spec.status, spec.code)


def problem_example(status: int, code: str, detail: str | None = None, title: str | None = None) -> dict[str, Any]:
    """An example problem body of `code` (components.examples, under the code's name)."""
    return {
        "summary": f"{status} {code}",
        "value": {
            "type": PROBLEM_BASE + code,
            "title": title or HTTPStatus(status).phrase,
            "status": status,
            "detail": detail or f"A {code} problem.",
            "code": code,
            "request_id": "5f0c6a1e9b7d4a2f8c3e1d2b4a6f8e0c",
        },
    }


def problem_response(status: int, codes: Iterable[str], description: str | None = None) -> dict[str, Any]:
    """The response object of one error status: the Problem schema, its codes, an example of each
    (each a components.examples entry named by its code)."""
    ordered = sorted(set(codes))
    reason = description or HTTPStatus(status).phrase
    return {
        "description": f"{reason}. Problem codes: " + ", ".join(f"`{c}`" for c in ordered),
        "content": {
            PROBLEM_JSON: {
                "schema": {
                    "allOf": [{"$ref": "#/components/schemas/Problem"}],
                    "properties": {"code": {"enum": ordered}, "status": {"const": status}},
                },
                "examples": {code: {"$ref": f"#/components/examples/{code}"} for code in ordered},
            }
        },
    }


def with_content(answer: Mapping[str, Any] | None, other: Mapping[str, Any]) -> dict[str, Any]:
    """A response object that has the content types of both `answer` and `other`."""
    if not answer:
        return copy.deepcopy(dict(other))
    merged = copy.deepcopy(dict(answer))
    merged["description"] = f"{answer['description']} Or: {other['description']}"
    merged["content"] = {**merged.get("content", {}), **copy.deepcopy(dict(other.get("content", {})))}
    return merged


_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """A Flask rule in OpenAPI's form: `/moods/<mood_id>` → `/moods/{mood_id}`."""
    return _RULE_ARGUMENT.sub(r"{\1}", rule)


def _path_parameter(name: str, described: Mapping[str, str]) -> dict[str, Any]:
    if name in described:
        text = described[name]
    elif name in ("user_id", "owner_id"):
        text = "A user's id (UUID), or `me` for the caller. A malformed id is an unknown one (404)."
    elif name.endswith("_id"):
        text = f"The {name[:-3].replace('_', ' ')}'s id (UUID). A malformed id is an unknown one (404)."
    else:
        text = name.replace("_", " ")
    return {"name": name, "in": "path", "required": True, "description": text, "schema": {"type": "string"}}


def _content(schema: SchemaLike, example: Any = None, media: str = "application/json") -> dict[str, Any]:
    body: dict[str, Any] = {"schema": dict(schema) if isinstance(schema, Mapping) else schema}
    if example is not None:
        body["example"] = example
    return {media: body}


def _page_of(schema: SchemaLike) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": dict(schema) if isinstance(schema, Mapping) else schema},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    }


def _success(op: Operation) -> dict[str, Any]:
    statuses = op.status if isinstance(op.status, tuple) else (op.status,)
    responses: dict[str, Any] = {}
    for status in statuses:
        answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if op.page is not None:
            answer["content"] = _content(_page_of(op.page))
        elif op.response is not None:
            answer["content"] = _content(op.response, media=op.content_type)
        if op.location and status == 201:
            answer["headers"] = {"Location": {"$ref": "#/components/headers/Location"}}
        responses[str(status)] = answer
    return responses


def _errors(op: Operation, method: str, authenticated: bool, service: bool) -> dict[int, set[str]]:
    specs: list[ErrorSpec] = list(op.errors)
    if authenticated:
        specs += TOKEN_ERRORS
    if op.body is not None or op.form or op.upload:
        specs += BODY_ERRORS
    if op.query is not None:
        specs.append(ValidationFailed)
    if service:
        specs += DEPENDENCY_ERRORS
        if method != "GET":
            specs.append((404, "user.deleted"))  # a write naming a user erased meanwhile (shared.errors)
    by_status: dict[int, set[str]] = {}
    for spec in specs:
        status, code = error_of(spec)
        by_status.setdefault(status, set()).add(code)
    return by_status


class Documenter:
    """Builds one app's OpenAPI document from its routes."""

    def __init__(self, title: str, version: str, *, name_prefix: str = ""):
        self.spec = APISpec(
            title=title,
            version=version,
            openapi_version=OPENAPI_VERSION,
            plugins=[MarshmallowPlugin(schema_name_resolver=self._schema_name)],
        )
        self.name_prefix = name_prefix
        self.examples: set[str] = set()
        self.spec.components.schema("Problem", PROBLEM_SCHEMA)
        self.spec.components.security_scheme(
            BEARER,
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token from register, login, refresh or the token endpoint.",
            },
        )
        self.spec.components.header(
            "Location", {"description": "The path of what was created.", "schema": {"type": "string"}}
        )

    def _schema_name(self, schema: Any) -> str:
        cls = schema if isinstance(schema, type) else type(schema)
        return f"{self.name_prefix}{cls.__name__}"

    def add_app(
        self,
        app: Flask,
        *,
        public: Callable[[str], bool],
        service: bool,
        include: Callable[[str], bool] = lambda path: True,
    ) -> None:
        """Document every route of `app` whose path `include` admits; `public(endpoint)` says which
        need no token. `service`: the routes run in a service with a database (503s of its own)."""
        paths: dict[str, dict[str, Any]] = {}
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            path = openapi_path(rule.rule)
            if not include(path):
                continue
            view = app.view_functions[rule.endpoint]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                op = _operation_of(view, method)
                if op is None:
                    raise UndocumentedRoute(f"{method} {rule.rule} ({rule.endpoint}) has no @operation")
                is_public = op.public if op.public is not None else public(rule.endpoint)
                paths.setdefault(path, {})[method.lower()] = self._operation(
                    op, rule.endpoint, method, rule.arguments, public=is_public, service=service
                )
        for path, operations in paths.items():
            self.spec.path(path=path, operations=operations)

    def _operation(
        self, op: Operation, endpoint: str, method: str, arguments: Iterable[str], *, public: bool, service: bool
    ) -> dict[str, Any]:
        parameters: list[dict[str, Any]] = [_path_parameter(name, op.path) for name in sorted(arguments)]
        if op.query is not None:
            parameters.append({"in": "query", "schema": op.query})
        doc: dict[str, Any] = {
            "operationId": f"{self.name_prefix}{endpoint}.{method.lower()}",
            "summary": op.summary,
            "parameters": parameters,
            "responses": _success(op),
        }
        if op.description:
            doc["description"] = op.description
        if self.name_prefix:
            doc["tags"] = [self.name_prefix.rstrip(".")]
        if op.body is not None or op.form or op.upload:
            content = _content(op.body, op.example) if op.body is not None else {}
            if op.form:
                content["application/x-www-form-urlencoded"] = {"schema": {"type": "object"}}
            if op.upload:
                content["multipart/form-data"] = {"schema": UPLOAD_SCHEMA}
            doc["requestBody"] = {
                "required": (op.body is not None and method != "DELETE") or op.upload,
                "content": content,
            }
        doc["security"] = [] if public else [{BEARER: []}]
        for status, codes in sorted(_errors(op, method, not public, service).items()):
            doc["responses"][str(status)] = problem_response(status, codes)
            for code in codes:
                if code not in self.examples:
                    self.examples.add(code)
                    self.spec.components.example(code, problem_example(status, code))
        for status, answer in op.responses.items():  # another shape than problem+json (RFC 6749's)
            doc["responses"][str(status)] = with_content(doc["responses"].get(str(status)), answer)
        if op.conditional:
            doc["x-conditional"] = True
        return doc

    def document(self) -> dict[str, Any]:
        return self.spec.to_dict()


def _operation_of(view: Any, method: str) -> Operation | None:
    """The @operation of a view for `method`: on the resource's method, or on the view function."""
    resource = getattr(view, "view_class", None)
    target = getattr(resource, method.lower(), None) if resource is not None else view
    return getattr(target, "openapi", None)


def document(
    app: Flask,
    *,
    title: str,
    version: str,
    public: Callable[[str], bool],
    name_prefix: str = "",
    service: bool = True,
) -> dict[str, Any]:
    """The OpenAPI document of every route of `app` (see Documenter)."""
    documenter = Documenter(title, version, name_prefix=name_prefix)
    documenter.add_app(app, public=public, service=service)
    return documenter.document()


def resources_document(
    service: str, version: str, register: Callable[[Any], None], public_endpoints: Iterable[str]
) -> dict[str, Any]:
    """A service's document from its resources alone, without building the service (no database,
    Redis or keys): `register(api)` mounts them on a bare app, as the service's create_app does."""
    app = Flask(f"openapi.{service}", static_folder=None)
    register(Api(app))
    public = frozenset(public_endpoints)
    return document(
        app,
        title=f"HugMood {service} service",
        version=version,
        public=lambda endpoint: endpoint in public,
        name_prefix=f"{service}.",
    )
