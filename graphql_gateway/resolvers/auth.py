"""Login and register: the auth service, each counted against the per-IP auth limit."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo

from graphql_gateway.upstream import Context

mutation = MutationType()
payload = ObjectType("AuthPayload")


@mutation.field("login")
def resolve_login(
    _: Any, info: GraphQLResolveInfo, email: str, password: str, device_token: str | None = None
) -> dict[str, Any]:
    context: Context = info.context
    context.count_auth_attempt("login")
    body: dict[str, Any] = {"email" if "@" in email else "username": email, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    return context.call("auth", "POST", "/api/v1/auth/login", json=body, public=True)


@mutation.field("register")
def resolve_register(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    context: Context = info.context
    context.count_auth_attempt("register")
    return context.call("auth", "POST", "/api/v1/auth/register", json=input, public=True)


@payload.field("account")
def resolve_account(body: dict[str, Any], _: GraphQLResolveInfo) -> dict[str, Any]:
    return body["user"]


BINDABLES = [mutation, payload]
