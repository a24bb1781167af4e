"""The GraphQL gateway's Flask app: POST and GET /graphql, subscriptions at /graphql/stream, and
the schema as SDL at /graphql/schema.graphql.

A request goes: document size → parse → limits (depth, aliases, auth mutations, cost) →
validation → execution, each step answering at once when it refuses; only execution calls a
service. Reached only through the REST gateway, which checked the token (if any), counted the
request and set X-Real-IP."""

from __future__ import annotations

import json
import logging
from functools import lru_cache, partial
from typing import Any

import redis
from flask import Flask, Response, request, stream_with_context
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from graphql_gateway import limits, stream
from graphql_gateway.schema import build_schema, schema_text
from graphql_gateway.upstream import Context
from shared.app import create_base_app
from shared.config import Config, resolve_config
from shared.http import ServiceClient
from shared.ratelimit import SETTINGS as RATE_LIMIT_SETTINGS
from shared.ratelimit import Limiter

log = logging.getLogger("hugmood.graphql")

SETTINGS = [*RATE_LIMIT_SETTINGS, *limits.SETTINGS]
# Root fields a request without a token may select: signing in, and asking what __typename is.
NO_TOKEN_FIELDS = frozenset({"login", "register", "__typename"})
# Documents kept parsed and validated, per worker (each at most GRAPHQL_MAX_DOCUMENT_BYTES).
DOCUMENT_CACHE = 256


class RequestRefused(Exception):
    """A request refused before execution: answered with its status and one GraphQL error."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class GraphQLGateway:
    """The schema and what executing a request against it needs."""

    def __init__(self, config: Config, client: ServiceClient, redis_client: redis.Redis):
        self.config = config
        self.client = client
        self.schema: GraphQLSchema = build_schema()
        self.sdl = schema_text(self.schema)
        self.limiter = Limiter(redis_client, window=config.GATEWAY_RATE_WINDOW_SECONDS)
        self.rules = list(specified_rules)
        if not config.GRAPHQL_INTROSPECTION:
            self.rules.append(NoSchemaIntrospectionCustomRule)
        # A client sends the same few documents again and again: each is parsed and validated once
        # per worker (validation is most of a small query's CPU). Limits run on every request, as
        # they depend on the variables.
        self.parse = lru_cache(maxsize=DOCUMENT_CACHE)(partial(parse, max_tokens=limits.MAX_TOKENS))
        self.validate = lru_cache(maxsize=DOCUMENT_CACHE)(
            lambda query: tuple(validate(self.schema, self.parse(query), self.rules))
        )

    def serve(self) -> Response:
        try:
            query, variables, operation_name = self.read_request()
            document, operation = self.prepare(query, variables, operation_name)
        except RequestRefused as exc:
            return _answer({"errors": [_error(exc.message, exc.code, exc.status)]}, exc.status, exc.headers)
        context = self.context()
        result = execute(
            self.schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [_formatted(error) for error in result.errors]
        if result.data is None and result.errors:  # the variables could not be coerced: nothing ran
            return _answer(body, 400)
        body["data"] = result.data
        return _answer(body, 200)

    def read_request(self) -> tuple[str, dict[str, Any], str | None]:
        """The query, variables and operation name, from the JSON body or the query string."""
        if request.method == "GET":
            source: Any = request.args.to_dict()
            raw_variables = source.get("variables")
            try:
                variables = json.loads(raw_variables) if raw_variables else None
            except ValueError:
                raise RequestRefused(400, "bad_request", "variables must be a JSON object.") from None
        else:
            source = request.get_json(silent=True) if request.get_data(cache=True) else None
            if not isinstance(source, dict):
                raise RequestRefused(400, "bad_request", 'The body must be a JSON object with a "query".')
            variables = source.get("variables")
        query, operation_name = source.get("query"), source.get("operationName")
        if not isinstance(query, str) or not query.strip():
            raise RequestRefused(400, "bad_request", "query must be a non-empty string.")
        if variables is not None and not isinstance(variables, dict):
            raise RequestRefused(400, "bad_request", "variables must be a JSON object.")
        if operation_name is not None and not isinstance(operation_name, str):
            raise RequestRefused(400, "bad_request", "operationName must be a string.")
        return query, variables or {}, operation_name

    def prepare(
        self, query: str, variables: dict[str, Any], operation_name: str | None, *, subscription: bool = False
    ) -> tuple[DocumentNode, OperationDefinitionNode]:
        """Parse, check the limits and validate: RequestRefused for anything that must not run."""
        try:
            limits.check_size(query, self.config)
        except limits.LimitExceeded as exc:
            raise RequestRefused(413, exc.code, exc.message) from None
        try:
            document = self.parse(query)
        except GraphQLError as exc:
            raise RequestRefused(400, "graphql.syntax_error", exc.message) from None
        operation = _operation(document, operation_name)
        if request.method == "GET" and operation.operation == OperationType.MUTATION:
            raise RequestRefused(
                405, "method_not_allowed", "GET runs queries only; send mutations with POST.", {"Allow": "POST"}
            )
        if subscription != (operation.operation == OperationType.SUBSCRIPTION):
            where = "at /graphql/stream (Server-Sent Events)" if not subscription else "at /graphql"
            raise RequestRefused(400, "graphql.wrong_endpoint", f"This operation is served {where}.")
        if not request.headers.get("Authorization"):
            selections = operation.selection_set.selections
            if not all(isinstance(node, FieldNode) and node.name.value in NO_TOKEN_FIELDS for node in selections):
                raise RequestRefused(
                    401,
                    "auth.token_missing",
                    "A bearer access token is required (only login and register work without one).",
                    {"WWW-Authenticate": 'Bearer realm="hugmood"'},
                )
        try:
            limits.check(self.schema, document, operation, variables, self.config)
        except limits.LimitExceeded as exc:
            raise RequestRefused(400, exc.code, exc.message) from None
        errors = self.validate(query)
        if errors:
            raise RequestRefused(400, "graphql.validation_failed", "; ".join(e.message for e in errors[:5]))
        return document, operation

    def serve_stream(self) -> Response:
        """A subscription, answered as an event stream (graphql_gateway.stream)."""
        try:
            query, variables, operation_name = self.read_request()
            document, operation = self.prepare(query, variables, operation_name, subscription=True)
            if stream.root_field(operation) is None:
                raise RequestRefused(400, "graphql.validation_failed", "Select the subscription's field directly.")
        except RequestRefused as exc:
            return _answer({"errors": [_error(exc.message, exc.code, exc.status)]}, exc.status, exc.headers)
        events = stream.events(
            self.schema,
            document,
            operation,
            variables,
            self.context,
            request.headers.get("Last-Event-ID") or None,
            _formatted,
        )
        return Response(
            stream_with_context(events),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def context(self) -> Context:
        """A new request context: its own loaders and their cache."""
        return Context(
            self.client,
            request.headers.get("Authorization"),
            request.headers.get("X-Real-IP") or request.remote_addr or "",
            self.limiter,
            self.config,
        )

    def schema_document(self) -> Response:
        return Response(self.sdl, mimetype="text/plain", headers={"Content-Type": "text/plain; charset=utf-8"})


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
        if not operations:
            raise RequestRefused(400, "graphql.unknown_operation", f"No operation named {name!r}.")
    if len(operations) != 1:
        raise RequestRefused(
            400, "graphql.unknown_operation", "The document must hold one operation, or name one with operationName."
        )
    return operations[0]


def _error(message: str, code: str, status: int) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, "status": status}}


def _formatted(error: GraphQLError) -> dict[str, Any]:
    """An execution error as sent: ours carry code and status; anything else is our bug, logged
    and sent without its text."""
    formatted = error.formatted
    extensions = formatted.get("extensions") or {}
    if "code" not in extensions:
        if error.original_error is not None:
            log.error("resolver failed", exc_info=error.original_error)
            formatted["message"] = "Internal error."
            formatted["extensions"] = {"code": "internal_error", "status": 500}
        else:
            formatted["extensions"] = {"code": "graphql.validation_failed", "status": 400}
    return formatted


def _answer(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the GraphQL gateway."""
    config = resolve_config("graphql", config, SETTINGS)
    base = create_base_app("graphql", config, public_endpoints=("graphql", "graphql_stream", "graphql_schema"))
    gateway = GraphQLGateway(config, base.client, base.redis)
    base.app.extensions["graphql"] = gateway
    base.app.add_url_rule("/graphql", "graphql", gateway.serve, methods=["GET", "POST"])
    base.app.add_url_rule("/graphql/stream", "graphql_stream", gateway.serve_stream, methods=["GET", "POST"])
    base.app.add_url_rule("/graphql/schema.graphql", "graphql_schema", gateway.schema_document, methods=["GET"])
    return base.app
