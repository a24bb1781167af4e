"""The content library: published items for everyone, drafts for editors, editor-only writes,
interactions and bookmarks."""

from __future__ import annotations

import uuid

import pytest

LIBRARY = "/api/v1/content"


@pytest.fixture
def editor(client, token_for):
    """Headers of a user with the editor role."""
    return {"Authorization": f"Bearer {token_for(str(uuid.uuid4()), roles=['user', 'editor'])}"}


@pytest.fixture
def admin(client, token_for):
    return {"Authorization": f"Bearer {token_for(str(uuid.uuid4()), roles=['user', 'admin'])}"}


def every(who, path: str) -> list[dict]:
    items, cursor = [], None
    while True:
        response = who.get(path + ("&" if "?" in path else "?") + "limit=7" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.json
        items += response.json["items"]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return items


def draft(client, editor, **fields) -> dict:
    body = {"title": "Walk slowly", "type": "exercise", "body": "# Go\n\n<script>alert(1)</script>", **fields}
    response = client.post(LIBRARY, headers=editor, json=body)
    assert response.status_code == 201, response.json
    return response.json


# ---- reading ----------------------------------------------------------------------------------


def test_the_starter_catalogue_is_published_and_pages_without_duplicates(person):
    alice = person()
    items = every(alice, LIBRARY)
    assert len(items) >= 30 and len({i["id"] for i in items}) == len(items)
    assert all(i["status"] == "published" and i["published_at"] for i in items)
    assert all(i["related_moods"] and i["tags"] and i["categories"] and i["body"] for i in items)
    assert {"breathing", "grounding", "gratitude", "movement", "sleep", "reaching-out"} <= {
        c for i in items for c in i["categories"]
    }


def test_filters_narrow_the_list(person):
    alice = person()
    breathing = every(alice, f"{LIBRARY}?category=breathing")
    assert breathing and all("breathing" in i["categories"] for i in breathing)
    walks = every(alice, f"{LIBRARY}?tag=walk&type=exercise")
    assert [i["title"] for i in walks] == ["A ten-minute walk"]
    anxious = every(alice, f"{LIBRARY}?mood=Anxious")
    assert anxious and all("anxious" in i["related_moods"] for i in anxious)
    assert every(alice, f"{LIBRARY}/by-mood/anxious") == anxious
    assert every(alice, f"{LIBRARY}?mood=serene") == []


@pytest.mark.parametrize(
    "query", ["type=podcast", "limit=0", "limit=101", "cursor=nonsense", "colour=red", "tag=" + "x" * 51]
)
def test_bad_list_parameters_are_422(person, query):
    response = person().get(f"{LIBRARY}?{query}")
    assert response.status_code == 422 and response.content_type == "application/problem+json"


@pytest.mark.parametrize("mood", ["x" * 51, "%20", "a%00b"])
def test_a_bad_mood_in_the_path_is_422(person, mood):
    response = person().get(f"{LIBRARY}/by-mood/{mood}")
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_by_mood_takes_the_list_filters_too(person):
    alice = person()
    assert every(alice, f"{LIBRARY}/by-mood/anxious?category=breathing") == every(
        alice, f"{LIBRARY}?mood=anxious&category=breathing"
    )
    assert alice.get(f"{LIBRARY}/by-mood/anxious?colour=red").status_code == 422


def test_the_category_tree_nests_children_under_parents(person):
    tree = person().get(f"{LIBRARY}/categories").json["items"]
    calm = next(node for node in tree if node["slug"] == "calm")
    assert [c["slug"] for c in calm["children"]] == ["breathing", "grounding"]
    assert all(child["children"] == [] for child in calm["children"])
    assert "breathing" not in {node["slug"] for node in tree}


def test_reading_needs_a_token(client):
    assert client.get(LIBRARY).status_code == 401
    assert client.get(f"{LIBRARY}/categories").status_code == 401


@pytest.mark.parametrize("bad", ["not-a-uuid", str(uuid.uuid4())])
def test_an_unknown_item_is_404(person, bad):
    response = person().get(f"{LIBRARY}/{bad}")
    assert response.status_code == 404 and response.json["code"] == "content.not_found"


# ---- writing ----------------------------------------------------------------------------------


def test_a_draft_is_the_editors_alone_until_published(client, person, editor, admin):
    alice = person()
    item = draft(client, editor, related_moods=["Calm", "calm "], tags=["Walk"], categories=["movement"])
    assert item["status"] == "draft" and item["published_at"] is None
    assert item["related_moods"] == ["calm"] and item["tags"] == ["walk"]
    assert item["body"] == "# Go\n\n<script>alert(1)</script>"  # Markdown as written, never rendered
    assert alice.get(f"{LIBRARY}/{item['id']}").status_code == 404
    assert item["id"] not in {i["id"] for i in every(alice, LIBRARY)}
    assert client.get(f"{LIBRARY}/{item['id']}", headers=editor).status_code == 200
    assert client.get(f"{LIBRARY}/{item['id']}", headers=admin).status_code == 200
    assert alice.post(f"{LIBRARY}/{item['id']}/interactions", json={"type": "view"}).status_code == 404

    published = client.put(f"{LIBRARY}/{item['id']}", headers=editor, json={"status": "published"})
    assert published.status_code == 200 and published.json["published_at"]
    assert every(alice, LIBRARY)[0]["id"] == item["id"]  # newest first
    assert alice.get(f"{LIBRARY}/{item['id']}").json["title"] == "Walk slowly"

    archived = client.put(f"{LIBRARY}/{item['id']}", headers=admin, json={"status": "archived"})
    assert archived.status_code == 200 and archived.json["published_at"] == published.json["published_at"]
    assert alice.get(f"{LIBRARY}/{item['id']}").status_code == 404

    assert client.delete(f"{LIBRARY}/{item['id']}", headers=editor).status_code == 204
    assert client.get(f"{LIBRARY}/{item['id']}", headers=editor).status_code == 404


def test_an_item_created_published_is_listed_at_once(client, person, editor):
    item = draft(client, editor, status="published", media_url="https://example.com/a.mp3", type="audio")
    assert item["published_at"] and item["media_url"] == "https://example.com/a.mp3"
    assert person().get(f"{LIBRARY}?type=audio").json["items"][0]["id"] == item["id"]


def test_users_cannot_write_content(client, person, editor):
    alice = person()
    item = draft(client, editor, status="published")
    for response in (
        alice.post(LIBRARY, json={"title": "Mine", "type": "article"}),
        alice.put(f"{LIBRARY}/{item['id']}", json={"title": "Mine"}),
        alice.delete(f"{LIBRARY}/{item['id']}"),
    ):
        assert response.status_code == 403 and response.json["code"] == "content.forbidden"
    assert alice.get(f"{LIBRARY}/{item['id']}").json["title"] == "Walk slowly"


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x"},
        {"title": "  ", "type": "article"},
        {"title": "x", "type": "podcast"},
        {"title": "x", "type": "article", "status": "live"},
        {"title": "x", "type": "article", "media_url": "javascript:alert(1)"},
        {"title": "x", "type": "article", "categories": ["no-such-category"]},
        {"title": "x", "type": "article", "tags": ["x" * 51]},
        {"title": "x", "type": "article", "author": "me"},
        {"title": "x" * 201, "type": "article"},
    ],
)
def test_bad_content_is_422(client, editor, body):
    response = client.post(LIBRARY, headers=editor, json=body)
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_bad_updates_are_refused(client, editor):
    item = draft(client, editor)
    assert client.put(f"{LIBRARY}/{item['id']}", headers=editor, json={}).status_code == 422
    assert client.put(f"{LIBRARY}/{uuid.uuid4()}", headers=editor, json={"title": "x"}).status_code == 404
    assert client.delete(f"{LIBRARY}/not-an-id", headers=editor).status_code == 404
    malformed = client.post(LIBRARY, headers={**editor, "Content-Type": "application/json"}, data="{")
    assert malformed.status_code == 400


# ---- interactions and bookmarks ------------------------------------------------------------------


def test_bookmarks_are_the_callers_own_and_follow_bookmark_and_unbookmark(person):
    alice, bob = person(), person()
    first, second = alice.get(f"{LIBRARY}?limit=2").json["items"]
    for item in (first, second, first):
        response = alice.post(f"{LIBRARY}/{item['id']}/interactions", json={"type": "bookmark"})
        assert response.status_code == 201 and response.json["type"] == "bookmark"
    assert {i["id"] for i in every(alice, f"{LIBRARY}/bookmarks")} == {first["id"], second["id"]}
    assert every(bob, f"{LIBRARY}/bookmarks") == []
    alice.post(f"{LIBRARY}/{first['id']}/interactions", json={"type": "unbookmark"})
    assert [i["id"] for i in every(alice, f"{LIBRARY}/bookmarks")] == [second["id"]]


def test_a_view_records_its_seconds(person):
    alice = person()
    item = alice.get(f"{LIBRARY}?limit=1").json["items"][0]
    response = alice.post(f"{LIBRARY}/{item['id']}/interactions", json={"type": "view", "seconds": 95})
    assert response.status_code == 201
    assert response.json["seconds"] == 95 and response.json["content_id"] == item["id"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"type": "like"},
        {"type": "view", "seconds": -1},
        {"type": "view", "seconds": True},
        {"type": "view", "x": 1},
    ],
)
def test_bad_interactions_are_422(person, body):
    alice = person()
    item = alice.get(f"{LIBRARY}?limit=1").json["items"][0]
    response = alice.post(f"{LIBRARY}/{item['id']}/interactions", json=body)
    assert response.status_code == 422 and response.content_type == "application/problem+json"


def test_interacting_with_an_unknown_item_is_404(person):
    alice = person()
    assert alice.post(f"{LIBRARY}/{uuid.uuid4()}/interactions", json={"type": "view"}).status_code == 404
    assert alice.post(f"{LIBRARY}/nope/interactions", json={"type": "view"}).status_code == 404


def test_bookmarks_of_an_archived_item_are_not_listed(client, person, editor):
    alice = person()
    item = draft(client, editor, status="published")
    alice.post(f"{LIBRARY}/{item['id']}/interactions", json={"type": "bookmark"})
    client.put(f"{LIBRARY}/{item['id']}", headers=editor, json={"status": "archived"})
    assert every(alice, f"{LIBRARY}/bookmarks") == []
