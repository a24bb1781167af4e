"""Per-request batching: one loader per object kind, each fetching many keys in one call.

Synchronous on purpose. graphql-core runs resolvers in order, depth first, and a list's items
are resolved one after another; so a list resolver announces the keys its items will need
(`want`), and the first `load` of any of them fetches every announced key not yet fetched in
one batched call. Later loads are answered from the request's cache. 50 hugs with their
senders: one call for the hugs, one for the 50 senders. (asyncio DataLoaders need an event
loop per request, which gevent's greenlets, sharing one OS thread, cannot each have.)"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from graphql_gateway.errors import path_id, problem_error

if TYPE_CHECKING:
    from graphql_gateway.upstream import Context

USER_NOT_FOUND = "user.not_found"
# The user service's batch read takes at most this many ids (services.user.schemas.MAX_BATCH_IDS).
USERS_PER_CALL = 100


class Loader:
    """Keys announced, values fetched in batches, and the errors of batches that failed."""

    def __init__(self, fetch: Callable[[list[Any]], dict[Any, Any]]):
        self._fetch = fetch
        self._values: dict[Hashable, Any] = {}
        self._errors: dict[Hashable, GraphQLError] = {}
        self._wanted: dict[Hashable, None] = {}

    def want(self, keys: Iterable[Hashable]) -> None:
        """Announce keys a later load will ask for, so they join the same batch."""
        for key in keys:
            if key is not None and key not in self._values and key not in self._errors:
                self._wanted[key] = None

    def prime(self, key: Hashable, value: Any) -> None:
        """Remember a value another call already answered."""
        self._values[key] = value
        self._wanted.pop(key, None)

    def load(self, key: Hashable) -> Any:
        """The value for `key` (None: no such object), fetching every announced key with it."""
        if key in self._values:
            return self._values[key]
        if key in self._errors:
            raise self._errors[key]
        self.want([key])
        batch = list(self._wanted)
        self._wanted.clear()
        try:
            found = self._fetch(batch)
        except GraphQLError as exc:
            for k in batch:
                self._errors[k] = exc
            raise
        for k in batch:
            self._values[k] = found.get(k)
        return self._values[key]


class Loaders:
    """The loaders of one request."""

    def __init__(self, context: Context):
        self.context = context
        self.users = Loader(self._users)

    def user(self, raw_id: str | None) -> dict[str, Any] | None:
        """A profile as the caller may see it, through the users loader (None for no id)."""
        if raw_id is None:
            return None
        profile = self.users.load(path_id(raw_id, USER_NOT_FOUND, me=False))
        if profile is None:
            raise problem_error("No such user.", USER_NOT_FOUND, 404, "user")
        return profile

    def _users(self, ids: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(ids), USERS_PER_CALL):
            chunk = ids[start : start + USERS_PER_CALL]
            body = self.context.call("user", "GET", "/api/v1/users", params={"ids": ",".join(chunk)})
            found.update({item["user_id"]: item for item in body["items"]})
        return found
