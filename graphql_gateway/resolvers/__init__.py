"""Resolvers, one module per domain, each calling its service; `BINDABLES` binds them all."""

from graphql_gateway.resolvers import auth, hugs, moods, notifications, social, users

BINDABLES = [*auth.BINDABLES, *users.BINDABLES, *moods.BINDABLES, *hugs.BINDABLES, *notifications.BINDABLES]
BINDABLES += social.BINDABLES

__all__ = ["BINDABLES"]
