"""Profiles, search and friendships: the user service."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from graphql_gateway import paging
from graphql_gateway.errors import path_id
from graphql_gateway.loaders import USER_NOT_FOUND
from graphql_gateway.resolvers.moods import mood_history
from graphql_gateway.upstream import Context

query = QueryType()
mutation = MutationType()
user = ObjectType("User")
friendship = ObjectType("Friendship")

NOT_FOUND = USER_NOT_FOUND


@query.field("me")
def resolve_me(_: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    context: Context = info.context
    profile = context.call("user", "GET", "/api/v1/users/me")
    context.loaders.users.prime(profile["user_id"], profile)
    return profile


@query.field("userById")
def resolve_user_by_id(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
    if id == "me":
        return resolve_me(None, info)
    return info.context.loaders.user(id)


@query.field("usersByIds")
def resolve_users_by_ids(_: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
    context: Context = info.context
    paging.size(len(ids) or None, "ids")
    wanted = [path_id(raw, NOT_FOUND, me=False) for raw in ids]
    context.loaders.users.want(wanted)
    return [context.loaders.users.load(key) for key in wanted]


@query.field("searchUsers")
def resolve_search(_: Any, info: GraphQLResolveInfo, q: str, first: int | None = None, after: str | None = None):
    context: Context = info.context
    page = paging.connection(paging.pages(context, "user", "/api/v1/users/search", {"q": q}), first, after)
    context.loaders.users.want(edge["user_id"] for edge in page["edges"])
    return page


@user.field("id")
def resolve_id(profile: dict[str, Any], _: GraphQLResolveInfo) -> str:
    return profile["user_id"]


@user.field("moods")
def resolve_moods(
    profile: dict[str, Any], info: GraphQLResolveInfo, limit: int | None = None, offset: int | None = None
):
    return mood_history(info.context, profile["user_id"], limit, offset)


@user.field("streak")
def resolve_streak(profile: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
    return info.context.call("mood", "GET", f"/api/v1/moods/streak/{profile['user_id']}")


@user.field("friends")
def resolve_friends(
    profile: dict[str, Any], info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
):
    context: Context = info.context
    fetch = paging.pages(context, "user", f"/api/v1/users/{profile['user_id']}/friends")
    page = paging.connection(fetch, first, after)
    context.loaders.users.want(edge["user_id"] for edge in page["edges"])
    return page


def _edge_node(edge: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    return info.context.loaders.user(edge["user_id"])


user_edge = ObjectType("UserEdge")
friend_edge = ObjectType("FriendEdge")
user_edge.set_field("node", _edge_node)
friend_edge.set_field("node", _edge_node)
friendship.set_field("user", _edge_node)


@mutation.field("updateProfile")
def resolve_update_profile(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    context: Context = info.context
    profile = context.call("user", "PUT", "/api/v1/users/me", json=input)
    context.loaders.users.prime(profile["user_id"], profile)
    return profile


@mutation.field("requestFriend")
def resolve_request_friend(_: Any, info: GraphQLResolveInfo, user_id: str) -> dict[str, Any]:
    target = path_id(user_id, NOT_FOUND, me=False)
    return info.context.call("user", "POST", f"/api/v1/users/{target}/friends")


@mutation.field("answerFriend")
def resolve_answer_friend(_: Any, info: GraphQLResolveInfo, user_id: str, status: str) -> dict[str, Any]:
    other = path_id(user_id, NOT_FOUND, me=False)
    return info.context.call("user", "PUT", f"/api/v1/users/me/friends/{other}", json={"status": status})


BINDABLES = [query, mutation, user, friendship, user_edge, friend_edge]
