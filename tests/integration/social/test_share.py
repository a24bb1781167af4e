"""Shares: POST /share, the public GET /shared/{token}, DELETE /share/{id}, against the real
mood, hug and user services over HTTP."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask

from services.social.models import db
from shared.testing import rolled_back
from tests.integration.social.conftest import PUBLIC_BASE, SHARE, SHARED, assert_gone, deliver, event, share, view


def test_owner_shares_a_public_mood_and_the_view_shows_no_note(client, sharer, member, moods):
    owner = sharer()
    mood = moods.record(owner, is_public=True)

    body = share(owner, "mood", mood["id"])
    assert set(body) == {"id", "share_url", "content_type", "content_id", "platform", "created_at"}
    assert (body["content_type"], body["content_id"], body["platform"]) == ("mood", mood["id"], "twitter")
    token = body["share_url"][len(PUBLIC_BASE) :]
    assert len(token) >= 43 and "/" not in token

    shown = view(client, body["share_url"])
    assert shown.status_code == 200, shown.json
    assert shown.json == {
        "content_type": "mood",
        "mood": "calm",
        "intensity": 0.7,
        "tags": ["sea"],
        "recorded_at": mood["recorded_at"],
        "shared_at": body["created_at"],
    }
    assert "private note" not in shown.text and owner.id not in shown.text

    # Sharing the same content again gives back the same share; another platform gets its own.
    again = share(owner, "mood", mood["id"], status=200)
    assert again == body
    elsewhere = share(owner, "mood", mood["id"], platform="whats_app-2")
    assert elsewhere["id"] != body["id"] and elsewhere["share_url"] != body["share_url"]

    # A signed-in stranger sees the same public view.
    stranger = member()
    assert stranger.get(SHARED + token).json == shown.json


def test_only_the_owner_may_share_a_mood(client, sharer, member, moods):
    owner, other = sharer(), member()
    mood = moods.record(owner, is_public=True)

    for content_id in (mood["id"], str(uuid.uuid4())):
        response = other.post(SHARE, json={"content_type": "mood", "content_id": content_id, "platform": "x"})
        assert response.status_code == 404
        assert response.json["code"] == "social.content_not_found"


def test_a_private_mood_or_one_its_owner_shares_with_friends_only_is_refused(client, sharer, member, moods):
    owner = sharer()
    private = moods.record(owner, is_public=False)
    assert share(owner, "mood", private["id"], status=409)["code"] == "social.content_not_public"

    friendly = member()  # shares moods with friends (the default)
    public = moods.record(friendly, is_public=True)
    assert share(friendly, "mood", public["id"], status=409)["code"] == "social.content_not_public"


def test_the_view_stops_when_the_mood_is_made_private_or_its_owner_stops_sharing(client, sharer, moods):
    owner = sharer()
    mood = moods.record(owner, is_public=True)
    url = share(owner, "mood", mood["id"])["share_url"]

    moods.change(owner, mood["id"], is_public=False)
    assert_gone(client, url)
    moods.change(owner, mood["id"], is_public=True)
    assert view(client, url).status_code == 200

    owner.set_privacy(share_moods_with="friends")
    assert_gone(client, url)
    owner.set_privacy(share_moods_with="none")
    assert_gone(client, url)


def test_the_view_stops_when_the_mood_is_deleted(client, sharer, moods):
    owner = sharer()
    mood = moods.record(owner, is_public=True)
    url = share(owner, "mood", mood["id"])["share_url"]
    moods.delete(owner, mood["id"])
    assert_gone(client, url)


def test_a_hug_is_shared_by_its_sender_and_its_recipient_only(client, member, hug):
    sender, recipient, stranger = member(), member(), member()
    sent = hug(sender, recipient)

    by_sender = share(sender, "hug", sent["id"])
    by_recipient = share(recipient, "hug", sent["id"])
    assert by_sender["share_url"] != by_recipient["share_url"]
    response = stranger.post(SHARE, json={"content_type": "hug", "content_id": sent["id"], "platform": "x"})
    assert response.status_code == 404 and response.json["code"] == "social.content_not_found"

    for url in (by_sender["share_url"], by_recipient["share_url"]):
        shown = view(client, url)
        assert shown.status_code == 200, shown.json
        assert shown.json == {
            "content_type": "hug",
            "type_label": sent["type_label"],
            "date": sent["created_at"][:10],
            "shared_at": shown.json["shared_at"],
        }
        assert "eyes only" not in shown.text
        assert sender.id not in shown.text and recipient.id not in shown.text and sent["id"] not in shown.text


def test_an_achievement_is_a_streak_milestone_of_the_caller(client, viewer, member):
    owner, other = member(), viewer()
    deliver(event("StreakMilestone", user_id=owner.id, days=7, streak_start="2026-11-16", public_entries=True))
    milestone = owner.get("/api/v1/social/feed").json["items"][0]
    assert milestone["type"] == "streak_milestone"

    body = share(owner, "achievement", milestone["id"], platform="facebook")
    shown = view(client, body["share_url"])
    assert shown.status_code == 200, shown.json
    assert shown.json == {
        "content_type": "achievement",
        "days": 7,
        "date": milestone["created_at"][:10],
        "shared_at": body["created_at"],
    }
    assert owner.id not in shown.text

    # Someone else's milestone, an activity that is no milestone, an unknown id: all 404.
    note = owner.share("friends")
    for person, content_id in ((other, milestone["id"]), (owner, note["id"]), (owner, str(uuid.uuid4()))):
        response = person.post(SHARE, json={"content_type": "achievement", "content_id": content_id, "platform": "x"})
        assert response.status_code == 404 and response.json["code"] == "social.content_not_found"

    # Deleting the milestone activity ends the link.
    assert owner.delete(f"/api/v1/social/activities/{milestone['id']}").status_code == 204
    assert_gone(client, body["share_url"])


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "content_type"),
        ({"content_type": "poem", "content_id": "{id}", "platform": "x"}, "content_type"),
        ({"content_type": "mood", "content_id": "nope", "platform": "x"}, "content_id"),
        ({"content_type": "mood", "content_id": 12, "platform": "x"}, "content_id"),
        ({"content_type": "mood", "content_id": "{id}"}, "platform"),
        ({"content_type": "mood", "content_id": "{id}", "platform": ""}, "platform"),
        ({"content_type": "mood", "content_id": "{id}", "platform": "Twitter"}, "platform"),
        ({"content_type": "mood", "content_id": "{id}", "platform": "a b"}, "platform"),
        ({"content_type": "mood", "content_id": "{id}", "platform": "x" * 33}, "platform"),
        ({"content_type": "mood", "content_id": "{id}", "platform": 5}, "platform"),
        ({"content_type": "mood", "content_id": "{id}", "platform": "x", "owner_id": "{id}"}, "owner_id"),
        ([], "_schema"),
    ],
)
def test_bad_share_bodies_are_422(client, viewer, body, field):
    person = viewer()
    if isinstance(body, dict):
        body = {k: v.replace("{id}", str(uuid.uuid4())) if isinstance(v, str) else v for k, v in body.items()}
    response = person.post(SHARE, json=body)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]


def test_sharing_needs_a_token_and_a_json_body(client, viewer):
    body = {"content_type": "mood", "content_id": str(uuid.uuid4()), "platform": "x"}
    assert client.post(SHARE, json=body).status_code == 401
    assert client.delete(f"{SHARE}/{uuid.uuid4()}").status_code == 401
    response = viewer().post(SHARE, data="not json", content_type="application/json")
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"


def test_unknown_and_malformed_tokens_are_404_and_query_params_change_nothing(client, sharer, moods):
    for token in ("A" * 43, "short", "x" * 100, "bad.token%21"):
        response = client.get(SHARED + token)
        assert response.status_code == 404 and response.content_type == "application/problem+json"

    owner = sharer()
    url = share(owner, "mood", moods.record(owner, is_public=True)["id"])["share_url"]
    token = url[len(PUBLIC_BASE) :]
    plain = client.get(f"{SHARED}{token}")
    # What platforms append to a link they pass on (fbclid, utm_*) must not break it, and no
    # parameter shows more than the public view.
    for query in ("?fbclid=IwAR0abc", "?utm_source=twitter&utm_medium=social", "?full=1"):
        decorated = client.get(f"{SHARED}{token}{query}")
        assert decorated.status_code == 200 and decorated.json == plain.json


def test_revoke_is_for_the_owner_only_and_ends_the_link(client, sharer, member, moods):
    owner, other = sharer(), member()
    mood = moods.record(owner, is_public=True)
    body = share(owner, "mood", mood["id"])

    for who, share_id in ((other, body["id"]), (owner, "not-a-uuid"), (owner, str(uuid.uuid4()))):
        response = who.delete(f"{SHARE}/{share_id}")
        assert response.status_code == 404 and response.json["code"] == "social.share_not_found"
    assert view(client, body["share_url"]).status_code == 200

    assert owner.delete(f"{SHARE}/{body['id']}").status_code == 204
    assert_gone(client, body["share_url"])
    assert owner.delete(f"{SHARE}/{body['id']}").status_code == 404

    # Sharing again after a revoke makes a new link; the old one stays dead.
    fresh = share(owner, "mood", mood["id"])
    assert fresh["share_url"] != body["share_url"]
    assert view(client, fresh["share_url"]).status_code == 200
    assert_gone(client, body["share_url"])


def test_sharing_a_mood_while_the_mood_service_is_down_is_503(moodless_app: Flask, redis_client, token_for):
    with moodless_app.app_context(), rolled_back(db):
        response = moodless_app.test_client().post(
            SHARE,
            json={"content_type": "mood", "content_id": str(uuid.uuid4()), "platform": "x"},
            headers={"Authorization": f"Bearer {token_for(str(uuid.uuid4()))}"},
        )
    assert response.status_code == 503, response.json
    assert response.content_type == "application/problem+json"
    assert "Retry-After" in response.headers
