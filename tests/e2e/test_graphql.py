"""The GraphQL gateway, driven through the REST gateway's /graphql like a client."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.fleet import Client, wait_for
from tests.e2e.test_hugs_notifications import befriend, notified, open_to_hugs, uid

pytestmark = pytest.mark.e2e

HUG = "warm"


def gql(client: Client, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, **kwargs)


def data(client: Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer's data; fails on any error."""
    response = gql(client, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def only_error(response: requests.Response) -> dict[str, Any]:
    [error] = response.json()["errors"]
    return error


def upstream_calls(fleet) -> dict[str, float]:
    """The GraphQL gateway's calls so far, per service (its /metrics)."""
    text = requests.get(fleet.url("graphql") + "/metrics", timeout=5).text
    pattern = r'^hugmood_upstream_calls_total\{process="graphql",upstream="(\w+)"\} ([0-9.e+]+)$'
    return {name: float(count) for name, count in re.findall(pattern, text, re.M)}


# ---- the process, routing and the schema -----------------------------------------------------------


def test_schema_is_served_through_the_gateway(client):
    response = client.get("/graphql/schema.graphql")
    assert response.status_code == 200
    for name in ("type Query", "type Mutation", "hugsReceived(limit: Int, offset: Int", "type UserConnection"):
        assert name in response.text, name


def test_register_and_login_need_no_token_and_give_working_tokens(client):
    name = f"gq{uuid.uuid4().hex[:10]}"
    registered = data(
        client,
        "mutation($input: RegisterInput!) { register(input: $input) { "
        "accessToken tokenType account { id username } } }",
        {"input": {"username": name, "email": f"{name}@example.com", "password": "a slow river at dusk"}},
    )["register"]
    assert registered["account"]["username"] == name and registered["tokenType"] == "Bearer"
    logged_in = data(
        client,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { "
        "accessToken deviceToken account { id } } }",
        {"e": f"{name}@example.com", "p": "a slow river at dusk"},
    )["login"]
    assert logged_in["account"]["id"] == registered["account"]["id"] and logged_in["deviceToken"]
    client.bearer(logged_in["accessToken"])
    assert client.get("/api/v1/users/me").json()["username"] == name
    assert data(client, "{ me { id username } }")["me"] == {"id": registered["account"]["id"], "username": name}


def test_a_wrong_password_is_the_rest_apis_401(client, new_user):
    body = new_user()
    client.headers.pop("Authorization")
    response = gql(
        client,
        'mutation($e: String!) { login(email: $e, password: "not the password") { accessToken } }',
        {"e": body["user"]["username"]},
    )
    assert response.status_code == 200 and response.json()["data"] == {"login": None}
    error = only_error(response)
    assert error["extensions"]["status"] == 401 and error["extensions"]["service"] == "auth"


def test_queries_other_than_login_and_register_need_a_token(client):
    response = gql(client, "{ me { username } }")
    assert response.status_code == 401
    assert only_error(response)["extensions"] == {"code": "auth.token_missing", "status": 401}
    refused = gql(client, "{ me { username } }", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"


def test_get_runs_queries_and_refuses_mutations(client, new_user):
    new_user()
    response = client.get("/graphql", params={"query": "query Me { me { username } }", "operationName": "Me"})
    assert response.status_code == 200 and response.json()["data"]["me"]["username"]
    mutation = client.get("/graphql", params={"query": 'mutation { markNotificationRead(id: "x") { id } }'})
    assert mutation.status_code == 405 and mutation.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b"[]", 400),
        (b'{"query": 5}', 400),
        (b'{"query": "{ me { username }"}', 400),
        (b'{"query": "{ me { nope } }"}', 400),
        (b'{"query": "query($n: Int) { hugsSent(limit: $n) { id } }", "variables": {"n": "ten"}}', 400),
        (b'{"query": "{ me { username } }", "variables": [1]}', 400),
        (b'{"query": "query A { me { id } } query B { me { id } }"}', 400),
        (b'{"query": "{ me { id } }", "operationName": "Nope"}', 400),
        (b'{"query": "{ me { ...A } } fragment A on User { friends { edges { node { ...A } } } }"}', 400),
        (b'{"query": "subscription { onReceiveHug { id } }"}', 400),
    ],
    ids=[
        "malformed json",
        "not an object",
        "query not a string",
        "syntax error",
        "unknown field",
        "wrong variable type",
        "variables not an object",
        "two operations unnamed",
        "unknown operation",
        "fragment cycle",
        "subscription",
    ],
)
def test_bad_requests_are_clear_4xx_never_500(client, new_user, body, status):
    new_user()
    response = client.post("/graphql", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json().get("errors") or response.json().get("code")


def test_a_body_that_is_not_json_is_415(client, new_user):
    new_user()
    response = client.post("/graphql", data="{ me { id } }", headers={"Content-Type": "application/graphql"})
    assert response.status_code == 415


# ---- every query and mutation of API.md -----------------------------------------------------------


def test_every_query_and_mutation(people):
    (alice, a_body), (bob, b_body) = people(2)
    alice_id, bob_id = uid((alice, a_body)), uid((bob, b_body))

    requested = data(alice, "mutation($u: ID!) { requestFriend(userId: $u) { userId status } }", {"u": bob_id})
    assert requested["requestFriend"] == {"userId": bob_id, "status": "pending"}
    answered = data(
        bob,
        'mutation($u: ID!) { answerFriend(userId: $u, status: "accepted") { status user { username } } }',
        {"u": alice_id},
    )["answerFriend"]
    assert answered == {"status": "accepted", "user": {"username": a_body["user"]["username"]}}

    profile = data(
        bob, 'mutation { updateProfile(input: {bio: "By the sea", timezone: "Europe/Paris"}) { bio timezone } }'
    )
    assert profile["updateProfile"] == {"bio": "By the sea", "timezone": "Europe/Paris"}
    mood = data(
        bob,
        "mutation($i: MoodInput!) { recordMood(input: $i) { id mood intensity isPublic tags user { id } } }",
        {"i": {"mood": "calm", "intensity": 0.7, "isPublic": True, "tags": ["sea"]}},
    )["recordMood"]
    assert mood["mood"] == "calm" and mood["isPublic"] and mood["tags"] == ["sea"] and mood["user"]["id"] == bob_id
    hug = data(
        alice,
        "mutation($i: HugInput!) { sendHug(input: $i) { id type sender { id } recipient { id } } }",
        {"i": {"recipientId": bob_id, "type": HUG, "message": "hello"}},
    )["sendHug"]
    assert hug["sender"]["id"] == alice_id and hug["recipient"]["id"] == bob_id

    notification = notified(bob, "hug_received")
    marked = data(bob, "mutation($id: ID!) { markNotificationRead(id: $id) { id isRead } }", {"id": notification["id"]})
    assert marked["markNotificationRead"] == {"id": notification["id"], "isRead": True}

    answer = data(
        bob,
        """query($a: ID!, $q: String!) {
          me { id username bio streak { currentStreak longestStreak } moods(limit: 5) { mood }
               friends(first: 5) { edges { status node { id } } } }
          userById(id: $a) { username }
          usersByIds(ids: [$a]) { id }
          searchUsers(q: $q, first: 5) { edges { node { id username } } pageInfo { hasNextPage } }
          moodHistory(userId: "me", limit: 5) { id mood }
          moodAnalytics(userId: "me", period: "week") { count dominantMood distribution }
          streak(userId: "me") { currentStreak }
          hugsReceived(limit: 5) { id message sender { username } }
          notifications(first: 5) { edges { node { type isRead } } }
          feed(first: 5) { edges { node { type actor { id } } } }
        }""",
        {"a": alice_id, "q": a_body["user"]["username"]},
    )
    me = answer["me"]
    assert me["id"] == bob_id and me["bio"] == "By the sea" and me["moods"] == [{"mood": "calm"}]
    assert me["streak"]["currentStreak"] >= 1
    assert me["friends"]["edges"] == [{"status": "accepted", "node": {"id": alice_id}}]
    assert answer["userById"] == {"username": a_body["user"]["username"]}
    assert answer["usersByIds"] == [{"id": alice_id}]
    assert alice_id in [e["node"]["id"] for e in answer["searchUsers"]["edges"]]
    assert answer["moodHistory"] == [{"id": mood["id"], "mood": "calm"}]
    assert answer["moodAnalytics"]["count"] == 1 and answer["moodAnalytics"]["dominantMood"] == "calm"
    assert answer["streak"]["currentStreak"] >= 1
    assert answer["hugsReceived"] == [
        {"id": hug["id"], "message": "hello", "sender": {"username": a_body["user"]["username"]}}
    ]
    assert {"type": "hug_received", "isRead": True} in [e["node"] for e in answer["notifications"]["edges"]]
    assert all(edge["node"]["actor"]["id"] in (alice_id, bob_id) for edge in answer["feed"]["edges"])
    sent = data(alice, "{ hugsSent { id recipient { id } } }")["hugsSent"]
    assert sent == [{"id": hug["id"], "recipient": {"id": bob_id}}]


def test_insights_answer_what_the_mood_service_answers(client, new_user):
    new_user()
    rest = client.get("/api/v1/analytics/insights/me")
    response = gql(client, "{ insights(first: 5) { edges { node { id title } } } }")
    assert response.status_code == 200
    if rest.status_code == 200:
        assert len(response.json()["data"]["insights"]["edges"]) == len(rest.json()["items"])
    else:  # no analytics service in this build yet: the same refusal, named
        error = only_error(response)
        assert error["extensions"]["status"] == rest.status_code and error["extensions"]["service"] == "mood"


# ---- paging -----------------------------------------------------------------------------------------


def test_limit_offset_and_connections_follow_the_services_order(client, new_user, fleet):
    new_user()
    for n in range(7):
        assert client.post("/api/v1/moods", json={"mood": f"m{n}", "intensity": 0.5}).status_code == 201
    rest = [item["id"] for item in client.get("/api/v1/moods/user/me", params={"limit": 100}).json()["items"]]
    page = data(client, '{ moodHistory(userId: "me", limit: 2, offset: 3) { id } }')["moodHistory"]
    assert [item["id"] for item in page] == rest[3:5]
    tail = data(client, '{ moodHistory(userId: "me", limit: 10, offset: 5) { id } }')["moodHistory"]
    assert [item["id"] for item in tail] == rest[5:]
    assert data(client, '{ moodHistory(userId: "me", offset: 7) { id } }')["moodHistory"] == []

    too_far = gql(client, '{ moodHistory(userId: "me", offset: 501) { id } }')
    assert only_error(too_far)["extensions"]["status"] == 422
    too_big = gql(client, '{ moodHistory(userId: "me", limit: 101) { id } }')
    assert only_error(too_big)["extensions"]["status"] == 422
    bad_cursor = gql(client, '{ notifications(first: 2, after: "garbage") { edges { cursor } } }')
    assert only_error(bad_cursor)["extensions"]["status"] == 422


def test_connection_pages_cover_a_list_once(people):
    (alice, a_body), *others = people(4)
    for other, _ in others:
        befriend((alice, a_body), (other, _))
    rest = [f["user_id"] for f in alice.get("/api/v1/users/me/friends").json()["items"]]
    seen, after = [], None
    while True:
        page = data(
            alice,
            "query($a: String) { me { friends(first: 2, after: $a) { edges { node { id } } "
            "pageInfo { hasNextPage endCursor } } } }",
            {"a": after},
        )["me"]["friends"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == rest and len(seen) == 3


# ---- batching -------------------------------------------------------------------------------------


def test_fifty_hugs_with_their_senders_take_two_upstream_calls(people, fleet):
    (bob, b_body), *senders = people(6)
    open_to_hugs((bob, b_body))
    for sender, _ in senders:
        for _ in range(10):
            response = sender.post("/api/v1/hugs", json={"recipient_id": uid((bob, b_body)), "type": HUG})
            assert response.status_code == 201, response.text
    before = upstream_calls(fleet)
    hugs = data(bob, "{ hugsReceived(limit: 50) { id sender { username displayName avatarUrl } } }")["hugsReceived"]
    after = upstream_calls(fleet)
    assert len(hugs) == 50
    assert {h["sender"]["username"] for h in hugs} == {body["user"]["username"] for _, body in senders}
    calls = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert {name: n for name, n in calls.items() if n} == {"hug": 1, "user": 1}


# ---- privacy parity ---------------------------------------------------------------------------------


def rest_vs_graphql(client: Client, path: str, query: str) -> tuple[int, Any, int, Any]:
    """(REST status, REST body, GraphQL status, GraphQL data): the status of a GraphQL field is its
    error's extensions.status, or 200 when it has none."""
    rest = client.get(path)
    answer = gql(client, query).json()
    errors = answer.get("errors") or []
    status = errors[0]["extensions"]["status"] if errors else 200
    return rest.status_code, rest.json(), status, answer.get("data")


def test_the_same_privacy_cases_give_the_same_visibility(people):
    (bob, b_body), (friend, f_body), (stranger, _) = people(3)
    bob_id = uid((bob, b_body))
    befriend((bob, b_body), (friend, f_body))
    assert bob.put("/api/v1/users/me/privacy", json={"show_online_status": False}).status_code == 200
    for public in (True, False):
        assert bob.post("/api/v1/moods", json={"mood": "shy", "intensity": 0.4, "is_public": public}).status_code == 201
    bob.get("/api/v1/users/me")  # sets last_active

    moods_query = f'{{ moodHistory(userId: "{bob_id}", limit: 20) {{ id isPublic }} }}'
    for viewer, visible in ((bob, 2), (friend, 1), (stranger, 0)):
        status, rest, gql_status, answer = rest_vs_graphql(viewer, f"/api/v1/moods/user/{bob_id}", moods_query)
        assert status == gql_status == 200
        assert [m["id"] for m in rest["items"]] == [m["id"] for m in answer["moodHistory"]]
        assert len(answer["moodHistory"]) == visible

    profile_query = f'{{ userById(id: "{bob_id}") {{ lastActive }} }}'
    for viewer in (friend, stranger, bob):
        status, rest, gql_status, answer = rest_vs_graphql(viewer, f"/api/v1/users/{bob_id}", profile_query)
        assert status == gql_status == 200
        assert rest["last_active"] == answer["userById"]["lastActive"]
    assert rest["last_active"] is not None  # the owner sees their own

    assert bob.put("/api/v1/users/me/privacy", json={"share_moods_with": "none"}).status_code == 200
    for path, query in (
        (f"/api/v1/moods/user/{bob_id}", moods_query),
        (f"/api/v1/moods/streak/{bob_id}", f'{{ streak(userId: "{bob_id}") {{ currentStreak }} }}'),
        (f"/api/v1/moods/analytics/{bob_id}", f'{{ moodAnalytics(userId: "{bob_id}") {{ count }} }}'),
    ):
        status, rest, gql_status, answer = rest_vs_graphql(friend, path, query)
        assert status == gql_status, path
        field = next(iter(answer.values()))
        if status == 200:
            assert (rest.get("items") == []) == (field == []), path
            assert rest.get("count", 0) == (field.get("count", 0) if isinstance(field, dict) else 0), path


def test_another_users_ids_get_the_rest_refusals(people):
    (bob, b_body), (carol, _) = people(2)
    open_to_hugs((bob, b_body))
    hug = carol.post("/api/v1/hugs", json={"recipient_id": uid((bob, b_body)), "type": HUG})
    assert hug.status_code == 201
    notification = notified(bob, "hug_received")

    rest = carol.put(f"/api/v1/notifications/{notification['id']}/read")
    answer = gql(carol, "mutation($id: ID!) { markNotificationRead(id: $id) { id } }", {"id": notification["id"]})
    error = only_error(answer)
    assert error["extensions"]["status"] == rest.status_code == 404
    assert error["extensions"]["code"] == rest.json()["code"]
    assert answer.json()["data"] == {"markNotificationRead": None}

    for raw in (str(uuid.uuid4()), "not-an-id"):
        rest = carol.get(f"/api/v1/users/{raw}")
        error = only_error(gql(carol, "query($u: ID!) { userById(id: $u) { id } }", {"u": raw}))
        assert error["extensions"]["status"] == rest.status_code == 404, raw
        assert error["extensions"]["code"] == rest.json()["code"] == "user.not_found"
    # An id is never a path: one that would climb out of it is an unknown id, not another route.
    error = only_error(gql(carol, 'query { userById(id: "../../auth/me") { id } }'))
    assert error["extensions"] == {"code": "user.not_found", "status": 404}


# ---- limits -----------------------------------------------------------------------------------------


def nested_friends(levels: int) -> str:
    query = "id"
    for _ in range(levels):
        query = f"friends(first: 1) {{ edges {{ node {{ {query} }} }} }}"
    return f"{{ me {{ {query} }} }}"


@pytest.mark.parametrize(
    ("query", "code", "status"),
    [
        (nested_friends(3), "graphql.too_deep", 400),
        (
            "{ hugsReceived(limit: 100) { sender { friends(first: 100) { edges { node { "
            "moods(limit: 100) { id } } } } } } }",
            "graphql.too_costly",
            400,
        ),
        ("{ " + " ".join(f"a{n}: me {{ id }}" for n in range(11)) + " }", "graphql.too_many_aliases", 400),
        ("{ me { " + "id " * 9000 + "} }", "graphql.document_too_large", 413),
    ],
    ids=["depth", "cost", "aliases", "size"],
)
def test_each_limit_is_refused_before_anything_runs(client, new_user, fleet, query, code, status):
    new_user()
    before = upstream_calls(fleet)
    response = gql(client, query)
    assert response.status_code == status, response.text
    assert only_error(response)["extensions"] == {"code": code, "status": status}
    assert upstream_calls(fleet) == before


def test_under_the_limits_a_query_runs(client, new_user):
    new_user()
    assert data(client, nested_friends(2))["me"]["friends"]["edges"] == []
    assert data(client, "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(10)) + " }")["a9"]["id"]


def test_introspection_is_on_and_within_the_limits(client, new_user):
    new_user()
    from graphql import get_introspection_query

    schema = data(client, get_introspection_query())["__schema"]
    assert schema["queryType"]["name"] == "Query"


def test_batched_alias_logins_are_refused_whole(client, new_user, fleet):
    body = new_user()
    client.headers.pop("Authorization")
    guesses = " ".join(
        f'g{n}: login(email: "{body["user"]["username"]}", password: "guess {n}") {{ accessToken }}' for n in range(5)
    )
    before = upstream_calls(fleet)
    response = gql(client, f"mutation {{ {guesses} }}")
    assert response.status_code == 400
    assert only_error(response)["extensions"]["code"] == "graphql.too_many_auth_mutations"
    both = gql(
        client,
        'mutation { login(email: "a", password: "b") { accessToken } register(input: '
        '{username: "abc", email: "abc@example.com", password: "a long pass phrase"}) { accessToken } }',
    )
    assert only_error(both)["extensions"]["code"] == "graphql.too_many_auth_mutations"
    assert upstream_calls(fleet).get("auth", 0) == before.get("auth", 0)


def test_logins_count_against_the_rest_per_ip_limit(fleet, new_user):
    """GATEWAY_AUTH_RATE_LIMIT is 5 in the e2e fleet: REST and GraphQL logins share the buckets."""
    client = Client(fleet.gateway, f"127.0.5.{uuid.uuid4().int % 250 + 1}")
    body = new_user(Client(fleet.gateway, f"127.0.6.{uuid.uuid4().int % 250 + 1}"))
    name = body["user"]["username"]
    login = 'mutation($e: String!) { login(email: $e, password: "wrong guess") { accessToken } }'
    for _ in range(2):
        assert client.post("/api/v1/auth/login", json={"username": name, "password": "wrong"}).status_code == 401
    statuses = [only_error(gql(client, login, {"e": name}))["extensions"]["status"] for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert client.post("/api/v1/auth/login", json={"username": name, "password": "wrong"}).status_code == 429


# ---- a service down -----------------------------------------------------------------------------------


def test_with_the_mood_service_down_the_rest_of_the_answer_is_there(client, new_user, fleet):
    body = new_user()
    fleet.stop("mood")
    try:
        response = gql(client, "{ me { username moods(limit: 5) { mood } } }")
        assert response.status_code == 200
        answer = response.json()
        assert answer["data"] == {"me": {"username": body["user"]["username"], "moods": None}}
        [error] = answer["errors"]
        assert error["path"] == ["me", "moods"] and error["extensions"]["service"] == "mood"
        assert "mood service" in error["message"] and error["extensions"]["status"] in (502, 503, 504)
    finally:
        fleet.start("mood")
        fleet.wait_healthy(("mood",))
    wait_for(lambda: gql(client, "{ me { moods(limit: 1) { id } } }").json().get("errors") is None, timeout=30)


# ---- subscriptions ----------------------------------------------------------------------------------


class EventStream:
    """A graphql-sse stream read through the gateway as its chunks arrive."""

    def __init__(self, response: requests.Response):
        self.response = response
        self.chunks = response.raw.read_chunked(decode_content=True)
        self.buffer = b""
        self.last_id: str | None = None

    def block(self) -> dict[str, str]:
        """The next block's fields (a comment's: none); an `id:` is remembered."""
        while b"\n\n" not in self.buffer:
            self.buffer += next(self.chunks)
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        lines = [line for line in block.decode().splitlines() if line and not line.startswith(":")]
        fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in lines)
        if "id" in fields:
            self.last_id = fields["id"]
        return fields

    def next_event(self) -> tuple[str, Any]:
        """The next event (kind, data); `id:` lines and comments are taken in passing."""
        while True:
            fields = self.block()
            if "event" in fields:
                return fields["event"], json.loads(fields["data"]) if fields.get("data") else None

    def close(self) -> None:
        self.response.close()


def subscribe(client: Client, query: str, last_id: str | None = None) -> EventStream:
    headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
    response = client.post("/graphql/stream", json={"query": query}, headers=headers, stream=True, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return EventStream(response)


def test_a_subscribed_recipient_gets_each_hug_and_misses_none_across_a_reconnect(people):
    (bob, b_body), (alice, a_body) = people(2)
    open_to_hugs((bob, b_body))
    query = "subscription { onReceiveHug { id message sender { username } } }"
    stream = subscribe(bob, query)
    assert stream.block() == {}  # the stream is open: ": subscribed"
    time.sleep(0.5)  # its first poll has read where "now" is
    sent_at = time.monotonic()
    first = alice.post("/api/v1/hugs", json={"recipient_id": uid((bob, b_body)), "type": HUG, "message": "one"})
    assert first.status_code == 201
    kind, payload = stream.next_event()
    delay = time.monotonic() - sent_at
    assert kind == "next" and payload["data"]["onReceiveHug"] == {
        "id": first.json()["id"],
        "message": "one",
        "sender": {"username": a_body["user"]["username"]},
    }
    print(f"\nhug to subscriber through the gateway: {delay * 1000:.0f} ms")
    assert delay < 3.0  # the target is 1 s; the shared CI machine gets slack
    while stream.last_id is None:  # the batch's cursor follows its events
        stream.block()
    stream.close()

    second = alice.post("/api/v1/hugs", json={"recipient_id": uid((bob, b_body)), "type": HUG, "message": "two"})
    assert second.status_code == 201
    notified(bob, "hug_received", hug_id=second.json()["id"])  # it happened while nobody listened
    again = subscribe(bob, query, stream.last_id)
    kind, payload = again.next_event()
    assert kind == "next" and payload["data"]["onReceiveHug"]["id"] == second.json()["id"]
    again.close()


def test_subscriptions_need_a_token_and_their_own_endpoint(client, new_user):
    refused = client.post("/graphql/stream", json={"query": "subscription { onNewNotification { id } }"})
    assert refused.status_code == 401
    new_user()
    wrong = gql(client, "subscription { onNewNotification { id } }")
    assert wrong.status_code == 400 and only_error(wrong)["extensions"]["code"] == "graphql.wrong_endpoint"
    query_there = client.post("/graphql/stream", json={"query": "{ me { id } }"})
    assert query_there.status_code == 400
    bad_cursor = subscribe(client, "subscription { onNewNotification { id } }", "garbage")
    kind, payload = bad_cursor.next_event()
    assert kind == "next" and payload["errors"][0]["extensions"]["status"] == 422
    assert bad_cursor.next_event() == ("complete", None)
