"""The caller's notifications: the notification service."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, QueryType
from graphql import GraphQLResolveInfo

from graphql_gateway import paging
from graphql_gateway.errors import path_id

query = QueryType()
mutation = MutationType()


@query.field("notifications")
def resolve_notifications(
    _: Any, info: GraphQLResolveInfo, unread: bool | None = None, first: int | None = None, after: str | None = None
) -> dict[str, Any]:
    params = {"unread": "true"} if unread else {}
    return paging.connection(paging.pages(info.context, "notification", "/api/v1/notifications", params), first, after)


@mutation.field("markNotificationRead")
def resolve_mark_read(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    notification = path_id(id, "notification.not_found", me=False)
    return info.context.call("notification", "PUT", f"/api/v1/notifications/{notification}/read")


BINDABLES = [query, mutation]
