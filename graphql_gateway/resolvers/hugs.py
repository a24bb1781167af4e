"""Hugs received and sent: the hug service."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from graphql_gateway import paging
from graphql_gateway.upstream import Context

query = QueryType()
mutation = MutationType()
hug = ObjectType("Hug")


def _hugs(context: Context, path: str, params: dict[str, Any], limit: int | None, offset: int | None) -> list[dict]:
    items = paging.offset_list(context, paging.pages(context, "hug", path, params), limit, offset)
    context.loaders.users.want(user_id for item in items for user_id in (item["sender_id"], item["recipient_id"]))
    return items


@query.field("hugsReceived")
def resolve_received(
    _: Any, info: GraphQLResolveInfo, limit: int | None = None, offset: int | None = None, unread: bool | None = None
) -> list[dict[str, Any]]:
    params = {"unread": "true"} if unread else {}
    return _hugs(info.context, "/api/v1/hugs/received", params, limit, offset)


@query.field("hugsSent")
def resolve_sent(_: Any, info: GraphQLResolveInfo, limit: int | None = None, offset: int | None = None) -> list[dict]:
    return _hugs(info.context, "/api/v1/hugs/sent", {}, limit, offset)


@hug.field("sender")
def resolve_sender(item: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    return info.context.loaders.user(item["sender_id"])


@hug.field("recipient")
def resolve_recipient(item: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    return info.context.loaders.user(item["recipient_id"])


@mutation.field("sendHug")
def resolve_send_hug(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    return info.context.call("hug", "POST", "/api/v1/hugs", json=input)


BINDABLES = [query, mutation, hug]
