"""Activities and feeds: validation, ownership, the visibility rules, blocks, pagination."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conditional import assert_etag_and_304


def test_create_returns_the_activity_with_location(viewer):
    alice = viewer()
    object_id = str(uuid.uuid4())
    response = alice.post(
        "/api/v1/social/activities",
        json={"type": "read_book", "object_id": object_id, "data": {"pages": 12}, "visibility": "friends"},
    )
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"/api/v1/social/activities/{body['id']}"
    assert body["user_id"] == alice.id and body["type"] == "read_book" and body["object_id"] == object_id
    assert body["data"] == {"pages": 12} and body["visibility"] == "friends" and body["created_at"].endswith("Z")
    assert alice.get(response.headers["Location"]).json == body


def test_data_and_object_id_are_optional(viewer):
    body = viewer().share()
    assert body["data"] == {} and body["object_id"] is None


@pytest.mark.parametrize(
    "body,field",
    [
        ({"visibility": "public"}, "type"),
        ({"type": "note"}, "visibility"),
        ({"type": "", "visibility": "public"}, "type"),
        ({"type": "Note", "visibility": "public"}, "type"),
        ({"type": "note-1", "visibility": "public"}, "type"),
        ({"type": "x" * 51, "visibility": "public"}, "type"),
        ({"type": 5, "visibility": "public"}, "type"),
        ({"type": "hug_sent", "visibility": "public"}, "type"),
        ({"type": "note", "visibility": "everyone"}, "visibility"),
        ({"type": "note", "visibility": "public", "object_id": "nope"}, "object_id"),
        ({"type": "note", "visibility": "public", "data": [1]}, "data"),
        ({"type": "note", "visibility": "public", "data": "x"}, "data"),
        ({"type": "note", "visibility": "public", "data": {f"k{i}": i for i in range(21)}}, "data"),
        ({"type": "note", "visibility": "public", "data": {"text": "x" * 4100}}, "data"),
        ({"type": "note", "visibility": "public", "user_id": str(uuid.uuid4())}, "user_id"),
        ({"type": "note", "visibility": "public", "id": str(uuid.uuid4())}, "id"),
    ],
)
def test_bad_body_gets_422(viewer, body, field):
    response = viewer().post("/api/v1/social/activities", json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_non_object_and_malformed_bodies(viewer):
    alice = viewer()
    assert alice.post("/api/v1/social/activities", json=[1, 2]).status_code == 422
    malformed = alice.post("/api/v1/social/activities", data="{", content_type="application/json")
    assert malformed.status_code == 400 and malformed.content_type == "application/problem+json"


def test_twenty_keys_and_four_kilobytes_are_allowed(viewer):
    alice = viewer()
    alice.share(data={f"k{i}": i for i in range(20)})
    alice.share(data={"text": "x" * 4000})


def test_requests_without_a_token_get_401(client):
    assert client.get("/api/v1/social/feed").status_code == 401
    assert client.post("/api/v1/social/activities", json={"type": "note", "visibility": "public"}).status_code == 401


def test_visibility_of_one_activity(viewer):
    alice, friend, stranger = viewer(), viewer(), viewer()
    alice.befriend(friend)
    public, friends, private = alice.share("public"), alice.share("friends"), alice.share("private")
    for activity in (public, friends, private):
        assert alice.get(f"/api/v1/social/activities/{activity['id']}").status_code == 200
    assert friend.get(f"/api/v1/social/activities/{public['id']}").status_code == 200
    assert friend.get(f"/api/v1/social/activities/{friends['id']}").status_code == 200
    assert friend.get(f"/api/v1/social/activities/{private['id']}").status_code == 404
    assert stranger.get(f"/api/v1/social/activities/{public['id']}").status_code == 200
    assert stranger.get(f"/api/v1/social/activities/{friends['id']}").status_code == 404
    assert stranger.get(f"/api/v1/social/activities/{private['id']}").status_code == 404


@pytest.mark.parametrize("raw", ["nope", "123", str(uuid.uuid4())])
def test_malformed_or_unknown_ids_get_404(viewer, raw):
    alice = viewer()
    assert alice.get(f"/api/v1/social/activities/{raw}").status_code == 404
    assert alice.delete(f"/api/v1/social/activities/{raw}").status_code == 404


def test_only_the_owner_deletes(viewer):
    alice, friend = viewer(), viewer()
    alice.befriend(friend)
    activity = alice.share("public")
    path = f"/api/v1/social/activities/{activity['id']}"
    assert friend.delete(path).status_code == 404
    assert friend.get(path).status_code == 200
    assert alice.delete(path).status_code == 204
    assert alice.get(path).status_code == 404
    assert alice.delete(path).status_code == 404


def test_feed_applies_public_friends_private(viewer):
    alice, friend, stranger = viewer(), viewer(), viewer()
    alice.befriend(friend)
    a_pub, a_fr, a_priv = alice.share("public"), alice.share("friends"), alice.share("private")
    f_pub, f_fr, f_priv = friend.share("public"), friend.share("friends"), friend.share("private")
    s_pub, s_fr, s_priv = stranger.share("public"), stranger.share("friends"), stranger.share("private")
    mine = {a_pub["id"], a_fr["id"], a_priv["id"]}
    feed = alice.feed()
    assert set(feed) >= mine | {f_pub["id"], f_fr["id"], s_pub["id"]}
    assert not set(feed) & {f_priv["id"], s_fr["id"], s_priv["id"]}
    stranger_feed = set(stranger.feed())
    assert {a_pub["id"], f_pub["id"]} <= stranger_feed
    assert not stranger_feed & {a_fr["id"], a_priv["id"], f_fr["id"], f_priv["id"]}


def test_feed_is_newest_first(viewer):
    alice = viewer()
    ids = [alice.share()["id"] for _ in range(3)]
    assert alice.feed()[:3] == ids[::-1]


@pytest.mark.parametrize("who_blocks", ["author", "reader"])
def test_blocks_either_way_hide_everything(viewer, who_blocks):
    alice, bob = viewer(), viewer()
    alice.befriend(bob)
    public, friends = bob.share("public"), bob.share("friends")
    assert {public["id"], friends["id"]} <= set(alice.feed())
    if who_blocks == "author":
        bob.block(alice)
    else:
        alice.block(bob)
    assert not {public["id"], friends["id"]} & set(alice.feed())
    assert alice.feed("/api/v1/social/friends-activity") == []
    assert alice.get(f"/api/v1/social/activities/{public['id']}").status_code == 404
    assert public["id"] in bob.feed()


def test_unfriend_removes_friends_only_items(viewer):
    alice, bob = viewer(), viewer()
    alice.befriend(bob)
    public, friends = bob.share("public"), bob.share("friends")
    assert {public["id"], friends["id"]} <= set(alice.feed())
    bob.unfriend(alice)
    feed = set(alice.feed())
    assert public["id"] in feed and friends["id"] not in feed
    assert alice.get(f"/api/v1/social/activities/{friends['id']}").status_code == 404


def test_friends_activity_lists_friends_only(viewer):
    alice, friend, stranger = viewer(), viewer(), viewer()
    alice.befriend(friend)
    alice.share("public")
    f_pub, f_fr = friend.share("public"), friend.share("friends")
    friend.share("private")
    stranger.share("public")
    items = alice.get("/api/v1/social/friends-activity").json["items"]
    assert [(a["id"], a["user_id"]) for a in items if a["type"] == "note"] == [
        (f_fr["id"], friend.id),
        (f_pub["id"], friend.id),
    ]
    # The friendship itself shows as the friend's "new_friend" activity; never alice's own.
    assert {(a["type"], a["user_id"]) for a in items} == {("note", friend.id), ("new_friend", friend.id)}


def test_feed_cursor_is_stable_under_inserts(viewer):
    alice = viewer()
    first = [alice.share()["id"] for _ in range(5)][::-1]
    page = alice.get("/api/v1/social/feed?limit=2").json
    seen = [a["id"] for a in page["items"]]
    alice.share()  # newer rows arrive while paging
    while page["next_cursor"]:
        page = alice.get(f"/api/v1/social/feed?limit=2&cursor={page['next_cursor']}").json
        seen += [a["id"] for a in page["items"]]
    own = [i for i in seen if i in first]
    assert own == first and len(seen) == len(set(seen))


def test_friends_activity_paginates(viewer):
    alice, friend = viewer(), viewer()
    alice.befriend(friend)
    ids = [friend.share("friends")["id"] for _ in range(3)][::-1]
    page = alice.get("/api/v1/social/friends-activity?limit=2").json
    rest = alice.get(f"/api/v1/social/friends-activity?limit=2&cursor={page['next_cursor']}").json
    seen = [a["id"] for a in page["items"] + rest["items"]]
    assert seen[:3] == ids and len(seen) == 4  # the fourth: the friend's older "new_friend"


@pytest.mark.parametrize("path", ["/api/v1/social/feed", "/api/v1/social/friends-activity"])
@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=%%%", "cursor=WyJ4Il0", "sort=asc"])
def test_feed_bad_query_gets_422(viewer, path, query):
    response = viewer().get(f"{path}?{query}")
    assert response.status_code == 422, response.json


def test_an_activity_has_an_etag(viewer):
    alice = viewer()
    activity = alice.share()
    assert_etag_and_304(alice.get, f"/api/v1/social/activities/{activity['id']}")
