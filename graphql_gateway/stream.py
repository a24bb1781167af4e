"""Subscriptions over Server-Sent Events: the graphql-sse protocol, distinct connections mode.

A subscription is a loop of long polls to the notification service with the caller's token:
each poll is held there until a notification is committed (its Redis wake-up, as for every long
poll) or POLL_SECONDS pass. Each new notification that a subscribed field takes becomes a `next`
event, the operation executed with it as the root value; after each batch an `id:` line carries
the poll cursor, so a client that reconnects with `Last-Event-ID` misses nothing (it may see the
last batch again). A comment goes out after every empty poll, so neither the REST gateway nor a
proxy takes the stream for idle."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from ariadne import convert_camel_case_to_snake
from graphql import DocumentNode, FieldNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, execute

from graphql_gateway.upstream import Context

# Below the REST gateway's upstream read timeout (10 s by default).
POLL_SECONDS = 8
# A notification of this type is a hug the caller received; its data names the hug.
HUG_RECEIVED = "hug_received"


def _hug(item: dict[str, Any], context: Context) -> dict[str, Any] | None:
    if item["type"] != HUG_RECEIVED or not item.get("data", {}).get("hug_id"):
        return None
    hug = context.call("hug", "GET", f"/api/v1/hugs/{item['data']['hug_id']}")
    context.loaders.users.want([hug["sender_id"], hug["recipient_id"]])
    return hug


# Subscription field -> what a new notification gives it (None: nothing for this field).
SOURCES: dict[str, Callable[[dict[str, Any], Context], Any]] = {
    "onReceiveHug": _hug,
    "onNewNotification": lambda item, _: item,
}


def root_field(operation: OperationDefinitionNode) -> str | None:
    """The subscription's one root field (validation allows no more), if written directly."""
    [node] = operation.selection_set.selections
    return node.name.value if isinstance(node, FieldNode) else None


def event(kind: str, data: Any = None) -> bytes:
    return f"event: {kind}\ndata: {'' if data is None else json.dumps(data)}\n\n".encode()


def events(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
    new_context: Callable[[], Context],
    cursor: str | None,
    formatted: Callable[[GraphQLError], dict[str, Any]],
) -> Iterator[bytes]:
    """The event stream of one subscription, from `cursor` (Last-Event-ID) or from now on."""
    field = root_field(operation)
    source = SOURCES.get(field or "")
    yield b": subscribed\n\n"
    try:
        while True:
            context = new_context()
            params: dict[str, Any] = {"timeout": POLL_SECONDS}
            if cursor is not None:
                params["cursor"] = cursor
            body = context.call(
                "notification", "GET", "/api/v1/notifications/poll", params=params, timeout=POLL_SECONDS + 5
            )
            if cursor is None:  # the first poll: where "now" is; the unread ones before it are not news
                cursor = body["cursor"]
                continue
            for item in body["items"]:
                payload = source(item, context) if source is not None else None
                if payload is None:
                    continue
                result = execute(
                    schema,
                    document,
                    root_value={convert_camel_case_to_snake(field): payload},  # as the schema's names read
                    context_value=context,
                    variable_values=variables,
                    operation_name=operation.name.value if operation.name else None,
                )
                answer: dict[str, Any] = {"data": result.data}
                if result.errors:
                    answer["errors"] = [formatted(error) for error in result.errors]
                yield event("next", answer)
            if body["cursor"] != cursor or body["items"]:
                cursor = body["cursor"]
                yield f"id: {cursor}\n\n".encode()
            else:
                yield b": keep-alive\n\n"
    except GraphQLError as exc:  # a service down or a refusal (a bad Last-Event-ID): said, then done
        yield event("next", {"errors": [formatted(exc)]})
        yield event("complete")
