"""Mood entries, analytics, streaks and insights: the mood service."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from graphql_gateway import paging
from graphql_gateway.errors import path_id
from graphql_gateway.upstream import Context

query = QueryType()
mutation = MutationType()
entry = ObjectType("MoodEntry")

NOT_FOUND = "user.not_found"


def mood_history(context: Context, user_id: str, limit: int | None, offset: int | None) -> list[dict[str, Any]]:
    """A user's entries the caller may see, newest first; their owners announced to the loader."""
    owner = path_id(user_id, NOT_FOUND)
    items = paging.offset_list(context, paging.pages(context, "mood", f"/api/v1/moods/user/{owner}"), limit, offset)
    context.loaders.users.want(item["user_id"] for item in items)
    return items


@query.field("moodHistory")
def resolve_mood_history(
    _: Any, info: GraphQLResolveInfo, user_id: str, limit: int | None = None, offset: int | None = None
) -> list[dict[str, Any]]:
    return mood_history(info.context, user_id, limit, offset)


@query.field("moodAnalytics")
def resolve_analytics(_: Any, info: GraphQLResolveInfo, user_id: str, period: str | None = None) -> dict[str, Any]:
    params = {"period": period} if period is not None else None
    return info.context.call("mood", "GET", f"/api/v1/moods/analytics/{path_id(user_id, NOT_FOUND)}", params=params)


@query.field("streak")
def resolve_streak(_: Any, info: GraphQLResolveInfo, user_id: str) -> dict[str, Any]:
    return info.context.call("mood", "GET", f"/api/v1/moods/streak/{path_id(user_id, NOT_FOUND)}")


@query.field("insights")
def resolve_insights(_: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None):
    return paging.connection(paging.pages(info.context, "mood", "/api/v1/analytics/insights/me"), first, after)


@entry.field("user")
def resolve_user(item: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    return info.context.loaders.user(item["user_id"])


@mutation.field("recordMood")
def resolve_record_mood(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    return info.context.call("mood", "POST", "/api/v1/moods", json=input)


BINDABLES = [query, mutation, entry]
