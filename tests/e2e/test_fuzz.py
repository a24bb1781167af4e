"""Contract fuzzing through the gateway: schemathesis drives every operation of the published
document against a real fleet, as a signed-in user with a second user's ids in play.

Each operation gets `FUZZ_EXAMPLES` generated cases (CI: a few; `make fuzz`: many), checked for
server errors, statuses, content types, bodies and headers the document does not list, auth the
document requires but the API does not enforce, and another user's object answered with a 2xx
(BOLA). The stateful run follows the links schemathesis infers from the document (create, then
read, update, delete). Operations that end the caller's session (logout, password change,
account deletion) run as a throwaway user that is registered again once it no longer signs in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.contract import DOCUMENT_FILE
from gateway.ops import OPS_ONLY
from scripts.embedded import start_redis
from shared.testing import fresh_database
from tests.e2e.conftest import launch_fleet
from tests.e2e.fleet import Client, Fleet, wait_for

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
STATEFUL_STEPS = int(os.environ.get("FUZZ_STATEFUL_STEPS", "8"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "5"))
# CI's run is the same every time; `make fuzz` draws new cases on each run.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM") != "1"
PASSWORD = "a soft warm blanket"
# Operations that end the caller's session or account: they run as a throwaway user.
SESSION_ENDING = frozenset(
    {("DELETE", "/api/v1/auth/account"), ("PUT", "/api/v1/auth/password"), ("POST", "/api/v1/auth/logout")}
)
# Reads of another user that only the owner may make.
PRIVATE_READS_OF_USER = (
    "/api/v1/analytics/correlations/{user_id}",
    "/api/v1/analytics/patterns/{user_id}",
    "/api/v1/analytics/insights/{user_id}",
    "/api/v1/analytics/recommendations/{user_id}",
    "/api/v1/users/{user_id}/privacy",
    "/api/v1/account/export",
)
# Another user's reads that answer over the entries their privacy shows: what each counts.
COUNTS_VISIBLE_ENTRIES = {
    "/api/v1/moods/user/{user_id}": lambda body: len(body["items"]),
    "/api/v1/moods/analytics/{user_id}": lambda body: body["count"],
    "/api/v1/moods/streak/{user_id}": lambda body: body["longest_streak"],
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
]


@dataclass
class Person:
    client: Client
    id: str
    token: str
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    fleet: Fleet
    me: Person
    other: Person
    throwaway: list[Person]
    # What the run did: operations (METHOD path) called, cases sent per kind of run.
    covered: set[str] = field(default_factory=set)
    sent: dict[str, int] = field(default_factory=lambda: {"operations": 0, "stateful": 0})

    def register(self, name: str) -> Person:
        client = Client(self.fleet.gateway, f"127.0.6.{uuid.uuid4().int % 250 + 1}")
        tag = uuid.uuid4().hex[:10]
        response = client.post(
            "/api/v1/auth/register",
            json={"username": f"{name}_{tag}", "email": f"{name}_{tag}@example.com", "password": PASSWORD},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        client.bearer(body["access_token"])
        return Person(client, body["user"]["id"], body["access_token"])

    def victim(self) -> Person:
        """The throwaway user, registered again when the last one no longer signs in."""
        if not self.throwaway or self.throwaway[0].client.get("/api/v1/auth/me").status_code != 200:
            self.throwaway[:] = [self.register("victim")]
        return self.throwaway[0]


def _created(client: Client, path: str, body: dict[str, Any]) -> str:
    response = client.post(path, json=body)
    assert response.status_code in (200, 201, 202), (path, response.status_code, response.text)
    return response.json()["id"]


def _populate(me: Person, other: Person, third: Person) -> None:
    """Objects of both users, so path parameters name real ones: mine, and the other's (BOLA)."""
    other.client.put(
        f"/api/v1/users/{other.id}/privacy",
        json={"share_moods_with": "none", "allow_friend_requests": False, "allow_hugs_from": "anyone"},
    ).raise_for_status()
    third.client.put(f"/api/v1/users/{third.id}/privacy", json={"allow_hugs_from": "anyone"}).raise_for_status()
    for person in (me, other):
        person.ids["mood_id"] = _created(
            person.client, "/api/v1/moods", {"mood": "calm", "intensity": 0.6, "is_public": True}
        )
        person.ids["activity_id"] = _created(
            person.client, "/api/v1/social/activities", {"type": "note", "visibility": "private"}
        )
        person.ids["device_id"] = _created(
            person.client, "/api/v1/devices", {"device_type": "web", "device_token": uuid.uuid4().hex * 2}
        )
    # My hug to the other user (theirs to read, mine to have sent; it notifies them), and theirs to
    # a third user (neither mine to read nor to mark read).
    me.ids["hug_id"] = _created(me.client, "/api/v1/hugs", {"recipient_id": other.id, "type": "warm"})
    other.ids["hug_id"] = _created(other.client, "/api/v1/hugs", {"recipient_id": third.id, "type": "bear"})
    notifications = wait_for(
        lambda: other.client.get("/api/v1/notifications").json()["items"], what="the other user's notification"
    )
    other.ids["notification_id"] = notifications[0]["id"]


@pytest.fixture(scope="module")
def world(servers, fleet_key, tmp_path_factory) -> Iterator[World]:
    run_dir = tmp_path_factory.mktemp("fuzz")
    # A Redis of its own: the fuzz fleet's rate limits and idempotency keys stay apart from the rest.
    redis_server = start_redis(run_dir)
    database_url = fresh_database(servers.database_url, servers.database("hugmood_fuzz"))
    fleet = launch_fleet(
        database_url,
        redis_server.url,
        fleet_key,
        run_dir,
        GATEWAY_RATE_LIMIT_PER_USER="1000000",
        GATEWAY_RATE_LIMIT_PER_IP="1000000",
        GATEWAY_AUTH_RATE_LIMIT="1000000",
        HUG_FLOOD_LIMIT="1000000",
    )
    try:
        world = World(fleet, None, None, [])  # type: ignore[arg-type]
        world.me, world.other = world.register("fuzz_me"), world.register("fuzz_other")
        _populate(world.me, world.other, world.register("fuzz_third"))
        ID_POOL[:] = sorted({world.me.id, world.other.id, "me", *world.me.ids.values(), *world.other.ids.values()})
        yield world
    finally:
        fleet.stop_all()
        redis_server.stop()


# Ids that exist, filled in by the `world` fixture: mine, the other user's, and `me`.
ID_POOL: list[str] = []
# The document the gateway serves (test_contract checks they are the same file).
schema = schemathesis.openapi.from_path(DOCUMENT_FILE)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """An id that exists (mine, the other user's, `me`) half of the time, else what was generated."""
    names = [name for name in path_parameters or {} if name.endswith("_id")]
    if not names:
        return st.just(path_parameters)

    def pick(name: str, i: int) -> str:
        # Explicit examples are drawn while collecting, before the fleet (and its ids) exist.
        return ID_POOL[i % len(ID_POOL)] if ID_POOL else path_parameters[name]

    known = st.integers(min_value=0, max_value=1023)
    picks = {name: st.one_of(known.map(lambda i, n=name: pick(n, i)), st.just(path_parameters[name])) for name in names}
    return st.fixed_dictionaries(picks).map(lambda chosen: {**path_parameters, **chosen})


@schema.hook
def map_query(context, query):
    """A long poll holds a second, not its default 30."""
    if context.operation is not None and context.operation.path == "/api/v1/notifications/poll":
        return {**(query or {}), "timeout": 1}
    return query


def no_bola(world: World):
    """A check: another user's private object, or a write naming another user, is never a 2xx."""
    theirs = set(world.other.ids.values())

    def check(ctx, response, case) -> bool | None:
        if not 200 <= response.status_code < 300:
            return None
        params = {str(v) for v in (case.path_parameters or {}).values()}
        path = case.operation.path
        if params & theirs:
            raise AssertionError(f"{case.method} {path} answered {response.status_code} for another user's object")
        if world.other.id in params and (case.method != "GET" or path in PRIVATE_READS_OF_USER):
            raise AssertionError(f"{case.method} {path} answered {response.status_code} for another user")
        if world.other.id in params and path in COUNTS_VISIBLE_ENTRIES:
            # Another user's moods list, analytics and streak count only what their privacy lets the
            # caller see: nothing (their mood of today is shared with no one).
            body = response.json()
            seen = COUNTS_VISIBLE_ENTRIES[path](body)
            assert not seen, f"{case.method} {path} shows another user's private moods: {body}"
        return True

    check.__name__ = "no_bola"
    return check


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_the_contract(case, world):
    key = (case.method.upper(), case.operation.path)
    person = world.victim() if key in SESSION_ENDING else world.me
    # Readiness and metrics answer on the ops port only (the operation's own `servers`).
    base_url = world.fleet.gateway_ops if case.operation.path in OPS_ONLY else world.fleet.gateway
    world.covered.add(f"{key[0]} {key[1]}")
    world.sent["operations"] += 1
    case.call_and_validate(
        base_url=base_url,
        session=requests.Session(),
        headers={"Authorization": f"Bearer {person.token}"},
        checks=CHECKS,
        additional_checks=[no_bola(world)],
        timeout=30,
    )


# The stateful run: the links schemathesis infers from the document (an id a response gives,
# used by the operation that takes it) chain create, read, update and delete.
stateful = schemathesis.openapi.from_path(DOCUMENT_FILE)
stateful.hooks = schema.hooks
for method, path in SESSION_ENDING:
    stateful = stateful.exclude(method=method, path=path)


def test_stateful_runs_follow_the_links(world):
    check_bola = no_bola(world)

    class Workflow(stateful.as_state_machine()):
        def get_call_kwargs(self, case):
            return {
                "base_url": world.fleet.gateway_ops if case.operation.path in OPS_ONLY else world.fleet.gateway,
                "headers": {"Authorization": f"Bearer {world.me.token}"},
                "timeout": 30,
            }

        def after_call(self, response, case):
            world.sent["stateful"] += 1
            world.covered.add(f"{case.method.upper()} {case.operation.path}")

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, additional_checks=[check_bola], transport_kwargs=kwargs)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            derandomize=DERANDOMIZE,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    assert world.sent["stateful"] > 0


def test_the_run_covered_every_operation(world):
    """Every operation of the document was called (runs after the fuzzing above, in file order)."""
    operations = {f"{op.method.upper()} {op.path}" for op in (r.ok() for r in schema.get_all_operations())}
    print(
        f"\nfuzz: {len(world.covered & operations)}/{len(operations)} operations, "
        f"{world.sent['operations']} cases over single operations ({EXAMPLES} generated each), "
        f"{world.sent['stateful']} stateful calls"
    )
    assert operations - world.covered == set()
