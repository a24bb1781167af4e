"""Hugs: the type catalogue, sending under the recipient's privacy and the flood limit, reading, lists."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from services.hug.models import Hug, OutboxEvent, db
from shared.testing import rolled_back
from tests.integration.conditional import assert_etag_and_304

HUGS = "/api/v1/hugs"


def outbox_count() -> int:
    return db.session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one()


def test_type_catalogue_lists_at_least_five_types(person):
    body = person().get(f"{HUGS}/types").json
    assert len(body["items"]) >= 5
    assert all(set(t) == {"name", "label", "description"} for t in body["items"])
    assert "warm" in {t["name"] for t in body["items"]}
    assert person().get(f"{HUGS}/types?page=2").status_code == 422


def test_every_endpoint_needs_a_token(client):
    assert client.get(f"{HUGS}/types").status_code == 401
    assert client.post(HUGS, json={}).status_code == 401
    assert client.get(f"{HUGS}/received").status_code == 401


def test_send_a_hug_to_someone_who_accepts_anyone(person, events):
    alice, bob = person(), person()
    bob.open_hugs()
    response = alice.post(HUGS, json={"recipient_id": bob.id, "type": "bear", "message": "hang in there"})
    assert response.status_code == 201
    hug = response.json
    assert response.headers["Location"] == f"{HUGS}/{hug['id']}"
    assert hug["sender_id"] == alice.id and hug["recipient_id"] == bob.id and hug["type"] == "bear"
    assert hug["message"] == "hang in there" and hug["is_read"] is False and hug["read_at"] is None
    assert hug["hug_request_id"] is None and hug["group_hug_id"] is None and hug["created_at"].endswith("Z")
    [sent] = events("HugSent")
    assert sent["data"] == {
        "hug_id": hug["id"],
        "sender_id": alice.id,
        "recipient_id": bob.id,
        "type": "bear",
        "type_label": "Bear hug",
        "message": "hang in there",
        "hug_request_id": None,
        "group_hug_id": None,
    }


def test_default_privacy_admits_friends_only(person, events):
    alice, bob, carol = person(), person(), person()
    alice.befriend(bob)
    assert alice.post(HUGS, json={"recipient_id": bob.id, "type": "warm"}).status_code == 201
    refused = carol.post(HUGS, json={"recipient_id": bob.id, "type": "warm"})
    assert refused.status_code == 403 and refused.json["code"] == "hug.not_accepted"
    assert len(events("HugSent")) == 1


def test_closed_hugs_refuse_even_friends(person, events):
    alice, bob = person(), person()
    alice.befriend(bob)
    bob.set_privacy(allow_hugs_from="none")
    assert alice.post(HUGS, json={"recipient_id": bob.id, "type": "warm"}).status_code == 403
    assert events() == []


@pytest.mark.parametrize("blocker", ["recipient", "sender"])
def test_a_block_either_way_refuses_hugs(person, events, blocker):
    alice, bob = person(), person()
    bob.open_hugs()
    (bob if blocker == "recipient" else alice).block(alice if blocker == "recipient" else bob)
    assert alice.post(HUGS, json={"recipient_id": bob.id, "type": "warm"}).status_code == 403
    assert events() == []


WRITES = {
    "hug": ("/api/v1/hugs", lambda bob: {"recipient_id": bob.id, "type": "warm"}),
    "request": ("/api/v1/hugs/request", lambda bob: {"recipient_id": bob.id}),
    "invite": ("/api/v1/hugs/group", lambda bob: {"name": "Team hug", "participant_ids": [bob.id]}),
}


@pytest.mark.parametrize(
    "write,change", [(w, "block") for w in WRITES] + [("hug", "close hugs"), ("invite", "close hugs")]
)
def test_a_block_or_closed_hugs_apply_at_once_though_an_admission_was_cached(person, write, change):
    alice, bob = person(), person()
    bob.open_hugs()
    path, body = WRITES[write]
    assert alice.post(path, json=body(bob)).status_code == 201  # bob's admission is now cached
    if change == "block":
        bob.block(alice)
    else:
        bob.set_privacy(allow_hugs_from="none")
    refused = alice.post(path, json=body(bob))
    assert refused.status_code == 403, refused.json
    assert refused.json["code"] == "hug.not_accepted"


def test_hug_to_oneself_is_422(person, events):
    alice = person()
    response = alice.post(HUGS, json={"recipient_id": alice.id, "type": "warm"})
    assert response.status_code == 422 and "recipient_id" in response.json["errors"]
    assert events() == []


def test_hug_to_unknown_user_is_404(person, events):
    response = person().post(HUGS, json={"recipient_id": str(uuid.uuid4()), "type": "warm"})
    assert response.status_code == 404
    assert events() == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({"type": "warm"}, "recipient_id"),
        ({"recipient_id": "not-a-uuid", "type": "warm"}, "recipient_id"),
        ({"recipient_id": 42, "type": "warm"}, "recipient_id"),
        ({"type": "squeeze"}, "type"),
        ({"type": 3}, "type"),
        ({}, "type"),
        ({"type": "warm", "message": "x" * 501}, "message"),
        ({"type": "warm", "message": 5}, "message"),
        ({"type": "warm", "sender_id": "00000000-0000-0000-0000-000000000000"}, "sender_id"),
    ],
)
def test_bad_hug_bodies_are_422(person, body, field):
    alice, bob = person(), person()
    body = {"recipient_id": bob.id, **body} if "recipient_id" not in body and field != "recipient_id" else body
    response = alice.post(HUGS, json=body)
    assert response.status_code == 422 and field in response.json["errors"], response.json


def test_message_of_500_characters_is_fine(person):
    alice, bob = person(), person()
    bob.open_hugs()
    assert alice.hug(bob, message="x" * 500)["message"] == "x" * 500


def test_malformed_and_non_json_bodies(person):
    alice = person()
    response = alice.post(HUGS, data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert alice.post(HUGS, data="hi", content_type="text/plain").status_code == 415
    assert alice.post(HUGS, json=[1, 2]).status_code == 422


def test_the_user_service_down_fails_closed_with_503(orphan_app, make_user, redis_client):
    recipient_id, _, _ = make_user()
    with orphan_app.app_context(), rolled_back(db):
        client = orphan_app.test_client()
        token = make_user()[1]
        response = client.post(
            HUGS,
            json={"recipient_id": recipient_id, "type": "warm"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert outbox_count() == 0


def test_flood_limit_refuses_with_429_and_retry_after(flood_app, person_on, redis_client):
    with flood_app.app_context(), rolled_back(db):
        client = flood_app.test_client()
        alice, bob, carol = (person_on(client) for _ in range(3))
        bob.open_hugs()
        carol.open_hugs()
        alice.hug(bob)
        alice.hug(bob)
        refused = alice.post(HUGS, json={"recipient_id": bob.id, "type": "warm"})
        assert refused.status_code == 429 and refused.json["code"] == "hug.flood"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert outbox_count() == 2
        # Per pair: the same sender may still hug someone else, and someone else may hug bob.
        alice.hug(carol)
        carol.hug(bob)


def test_flood_window_ends(flood_app, person_on, redis_client):
    with flood_app.app_context(), rolled_back(db):
        client = flood_app.test_client()
        alice, bob = (person_on(client) for _ in range(2))
        bob.open_hugs()
        alice.hug(bob)
        alice.hug(bob)
        db.session.execute(update(Hug).values(created_at=Hug.created_at - timedelta(seconds=61)))
        alice.hug(bob)


def test_get_hug_for_sender_and_recipient_only(person):
    alice, bob, eve = person(), person(), person()
    bob.open_hugs()
    hug = alice.hug(bob)
    assert alice.get(f"{HUGS}/{hug['id']}").json == hug
    assert bob.get(f"{HUGS}/{hug['id']}").json == hug
    assert eve.get(f"{HUGS}/{hug['id']}").status_code == 404
    assert alice.get(f"{HUGS}/{uuid.uuid4()}").status_code == 404
    assert alice.get(f"{HUGS}/not-an-id").status_code == 404


def test_mark_read_by_recipient_is_idempotent(person):
    alice, bob = person(), person()
    bob.open_hugs()
    hug = alice.hug(bob)
    first = bob.put(f"{HUGS}/{hug['id']}/read")
    assert first.status_code == 200 and first.json["is_read"] is True and first.json["read_at"]
    second = bob.put(f"{HUGS}/{hug['id']}/read")
    assert second.status_code == 200 and second.json["read_at"] == first.json["read_at"]


def test_mark_read_sender_403_others_404_malformed_404(person):
    alice, bob, eve = person(), person(), person()
    bob.open_hugs()
    hug = alice.hug(bob)
    assert alice.put(f"{HUGS}/{hug['id']}/read").status_code == 403
    assert eve.put(f"{HUGS}/{hug['id']}/read").status_code == 404
    assert bob.put(f"{HUGS}/not-a-uuid/read").status_code == 404
    assert bob.put(f"{HUGS}/{uuid.uuid4()}/read").status_code == 404
    assert bob.get(f"{HUGS}/{hug['id']}").json["is_read"] is False


def test_received_and_sent_lists_are_each_users_own(person):
    alice, bob, carol = person(), person(), person()
    bob.open_hugs()
    carol.open_hugs()
    first = alice.hug(bob, type="side")
    second = alice.hug(bob, type="bear")
    to_carol = alice.hug(carol)
    received = bob.get(f"{HUGS}/received").json
    assert [h["id"] for h in received["items"]] == [second["id"], first["id"]]
    assert received["next_cursor"] is None
    sent = alice.get(f"{HUGS}/sent").json
    assert [h["id"] for h in sent["items"]] == [to_carol["id"], second["id"], first["id"]]
    assert carol.get(f"{HUGS}/sent").json["items"] == []
    assert [h["id"] for h in carol.get(f"{HUGS}/received").json["items"]] == [to_carol["id"]]


def test_received_unread_filter(person):
    alice, bob = person(), person()
    bob.open_hugs()
    read, unread = alice.hug(bob), alice.hug(bob)
    bob.put(f"{HUGS}/{read['id']}/read")
    assert [h["id"] for h in bob.get(f"{HUGS}/received?unread=true").json["items"]] == [unread["id"]]
    assert [h["id"] for h in bob.get(f"{HUGS}/received?unread=false").json["items"]] == [read["id"]]


def test_cursor_pages_are_stable_under_inserts(person):
    alice, bob = person(), person()
    bob.open_hugs()
    hugs = [alice.hug(bob) for _ in range(5)]
    page = bob.get(f"{HUGS}/received?limit=2").json
    assert [h["id"] for h in page["items"]] == [hugs[4]["id"], hugs[3]["id"]]
    alice.hug(bob)  # a new one arrives between pages: no duplicate, no gap
    page = bob.get(f"{HUGS}/received?limit=2&cursor={page['next_cursor']}").json
    assert [h["id"] for h in page["items"]] == [hugs[2]["id"], hugs[1]["id"]]
    page = bob.get(f"{HUGS}/received?limit=2&cursor={page['next_cursor']}").json
    assert [h["id"] for h in page["items"]] == [hugs[0]["id"]] and page["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    ["unread=yes", "unread=1", "unread=TRUE", "limit=0", "limit=101", "limit=x", "cursor=garbage", "sort=asc"],
)
def test_bad_received_query_is_422(person, query):
    assert person().get(f"{HUGS}/received?{query}").status_code == 422


@pytest.mark.parametrize("query", ["unread=true", "limit=0", "cursor=garbage"])
def test_bad_sent_query_is_422(person, query):
    assert person().get(f"{HUGS}/sent?{query}").status_code == 422


def test_a_hug_has_an_etag_that_changes_when_it_is_read(person):
    alice, bob = person(), person()
    bob.open_hugs()
    path = f"/api/v1/hugs/{alice.hug(bob)['id']}"
    tag = assert_etag_and_304(bob.get, path)
    assert bob.put(f"{path}/read").status_code == 200
    assert bob.get(path, headers={"If-None-Match": tag}).status_code == 200  # is_read changed
    assert person().get(path, headers={"If-None-Match": tag}).status_code == 404  # not theirs, never 304
