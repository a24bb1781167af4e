"""The caller's feed: the social service."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo

from graphql_gateway import paging
from graphql_gateway.upstream import Context

query = QueryType()
activity = ObjectType("Activity")


@query.field("feed")
def resolve_feed(_: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None):
    context: Context = info.context
    page = paging.connection(paging.pages(context, "social", "/api/v1/social/feed"), first, after)
    context.loaders.users.want(edge["user_id"] for edge in page["edges"])
    return page


@activity.field("actorId")
def resolve_actor_id(item: dict[str, Any], _: GraphQLResolveInfo) -> str:
    return item["user_id"]


@activity.field("actor")
def resolve_actor(item: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    return info.context.loaders.user(item["user_id"])


BINDABLES = [query, activity]
