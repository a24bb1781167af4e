"""Hug requests: directed and community, listing by direction and status, answering once."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from services.hug.models import HugRequest, db
from shared.testing import rolled_back

HUGS = "/api/v1/hugs"


def test_directed_request_is_pending_and_announced(person, events):
    alice, bob = person(), person()
    response = alice.post(f"{HUGS}/request", json={"recipient_id": bob.id, "message": "rough week"})
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"] == f"{HUGS}/request/{body['id']}"
    assert body["status"] == "pending" and body["requester_id"] == alice.id and body["recipient_id"] == bob.id
    assert body["message"] == "rough week" and body["is_community"] is False and body["hug_id"] is None
    [requested] = events("HugRequested")
    assert requested["data"] == {
        "hug_request_id": body["id"],
        "requester_id": alice.id,
        "recipient_id": bob.id,
        "message": "rough week",
    }


def test_community_request_has_no_recipient(person, events):
    alice = person()
    body = alice.ask()
    assert body["recipient_id"] is None and body["is_community"] is True and body["status"] == "pending"
    assert alice.ask(recipient_id=None)["recipient_id"] is None
    assert events("HugRequested")[0]["data"]["recipient_id"] is None


def test_request_to_oneself_unknown_or_blocked(person, events):
    alice, bob, carol = person(), person(), person()
    assert alice.post(f"{HUGS}/request", json={"recipient_id": alice.id}).status_code == 422
    assert alice.post(f"{HUGS}/request", json={"recipient_id": str(uuid.uuid4())}).status_code == 404
    bob.block(alice)
    assert alice.post(f"{HUGS}/request", json={"recipient_id": bob.id}).status_code == 403
    alice.block(carol)
    assert alice.post(f"{HUGS}/request", json={"recipient_id": carol.id}).status_code == 403
    assert events() == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({"recipient_id": "nope"}, "recipient_id"),
        ({"message": "x" * 501}, "message"),
        ({"message": ["hi"]}, "message"),
        ({"status": "accepted"}, "status"),
    ],
)
def test_bad_request_bodies_are_422(person, body, field):
    response = person().post(f"{HUGS}/request", json=body)
    assert response.status_code == 422 and field in response.json["errors"]


def test_accepting_sends_the_requester_a_hug(person, events):
    alice, bob = person(), person()
    request = alice.ask(bob)
    response = bob.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted", "type": "comfort"})
    assert response.status_code == 200
    answered = response.json
    assert answered["status"] == "accepted" and answered["responder_id"] == bob.id and answered["answered_at"]
    hug = alice.get(f"{HUGS}/{answered['hug_id']}").json
    assert hug["sender_id"] == bob.id and hug["recipient_id"] == alice.id and hug["type"] == "comfort"
    assert hug["hug_request_id"] == request["id"]
    [sent] = events("HugSent")
    assert sent["data"]["hug_request_id"] == request["id"] and sent["data"]["hug_id"] == hug["id"]
    [answer] = events("HugRequestAnswered")
    assert answer["data"] == {
        "hug_request_id": request["id"],
        "requester_id": alice.id,
        "responder_id": bob.id,
        "status": "accepted",
        "hug_id": hug["id"],
    }


def test_accepting_uses_the_default_type_and_ignores_allow_hugs_from(person):
    alice, bob = person(), person()
    alice.set_privacy(allow_hugs_from="none")  # she asked bob herself
    request = alice.ask(bob)
    answered = bob.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted", "message": "here"}).json
    hug = alice.get(f"{HUGS}/{answered['hug_id']}").json
    assert hug["type"] == "warm" and hug["message"] == "here"


def test_declining_sends_nothing(person, events):
    alice, bob = person(), person()
    request = alice.ask(bob)
    answered = bob.put(f"{HUGS}/request/{request['id']}", json={"status": "declined"}).json
    assert answered["status"] == "declined" and answered["hug_id"] is None
    assert events("HugSent") == []
    assert events("HugRequestAnswered")[0]["data"]["status"] == "declined"


def test_answering_twice_is_409(person, events):
    alice, bob = person(), person()
    request = alice.ask(bob)
    assert bob.put(f"{HUGS}/request/{request['id']}", json={"status": "declined"}).status_code == 200
    again = bob.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"})
    assert again.status_code == 409 and again.json["code"] == "hug.request_answered"
    assert len(events("HugRequestAnswered")) == 1 and events("HugSent") == []


def test_directed_request_requester_403_others_404(person):
    alice, bob, eve = person(), person(), person()
    request = alice.ask(bob)
    assert alice.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"}).status_code == 403
    assert eve.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"}).status_code == 404
    assert bob.put(f"{HUGS}/request/not-a-uuid", json={"status": "accepted"}).status_code == 404
    assert bob.put(f"{HUGS}/request/{uuid.uuid4()}", json={"status": "accepted"}).status_code == 404


def test_community_request_anyone_but_requester_accepts_never_declines(person, events):
    alice, bob, carol = person(), person(), person()
    request = alice.ask()
    assert alice.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"}).status_code == 403
    declined = carol.put(f"{HUGS}/request/{request['id']}", json={"status": "declined"})
    assert declined.status_code == 422 and "status" in declined.json["errors"]
    accepted = bob.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"})
    assert accepted.status_code == 200 and accepted.json["responder_id"] == bob.id
    assert carol.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"}).status_code == 409
    assert len(events("HugSent")) == 1


def test_accepting_is_refused_after_a_block(person, events, redis_client):
    alice, bob = person(), person()
    request = alice.ask()
    alice.block(bob)
    response = bob.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"})
    assert response.status_code == 403
    assert events("HugSent") == [] and events("HugRequestAnswered") == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "status"),
        ({"status": "pending"}, "status"),
        ({"status": True}, "status"),
        ({"status": "accepted", "type": "squeeze"}, "type"),
        ({"status": "accepted", "message": "x" * 501}, "message"),
        ({"status": "accepted", "hug_id": "x"}, "hug_id"),
    ],
)
def test_bad_answer_bodies_are_422(person, body, field):
    alice, bob = person(), person()
    request = alice.ask(bob)
    response = bob.put(f"{HUGS}/request/{request['id']}", json=body)
    assert response.status_code == 422 and field in response.json["errors"]


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [r["id"] for r in response.json["items"]]


def test_incoming_lists_directed_and_open_community_requests(person):
    alice, bob, carol, dave = person(), person(), person(), person()
    to_bob = alice.ask(bob)
    community = carol.ask()
    to_dave = alice.ask(dave)
    own = bob.ask()
    incoming = ids(bob.get(f"{HUGS}/requests"))
    assert community["id"] in incoming and to_bob["id"] in incoming
    assert own["id"] not in incoming and to_dave["id"] not in incoming
    assert incoming.index(community["id"]) < incoming.index(to_bob["id"])  # newest first
    outgoing = ids(alice.get(f"{HUGS}/requests?direction=outgoing"))
    assert outgoing == [to_dave["id"], to_bob["id"]]


def test_answered_community_requests_leave_others_incoming(person):
    alice, bob, carol = person(), person(), person()
    community = alice.ask()
    bob.put(f"{HUGS}/request/{community['id']}", json={"status": "accepted"})
    assert community["id"] not in ids(carol.get(f"{HUGS}/requests"))
    assert community["id"] in ids(bob.get(f"{HUGS}/requests?status=accepted"))
    assert community["id"] not in ids(bob.get(f"{HUGS}/requests?status=pending"))


def test_community_requests_of_blocked_people_are_hidden_at_once(person):
    alice, bob = person(), person()
    community = alice.ask()
    assert community["id"] in ids(bob.get(f"{HUGS}/requests"))  # the admission is what a cache would keep
    alice.block(bob)
    assert community["id"] not in ids(bob.get(f"{HUGS}/requests"))


def test_status_filter_and_pages(person):
    alice, bob = person(), person()
    made = [alice.ask(bob) for _ in range(3)]
    bob.put(f"{HUGS}/request/{made[0]['id']}", json={"status": "declined"})
    assert ids(bob.get(f"{HUGS}/requests?status=declined")) == [made[0]["id"]]
    assert ids(alice.get(f"{HUGS}/requests?direction=outgoing&status=pending")) == [made[2]["id"], made[1]["id"]]
    page = alice.get(f"{HUGS}/requests?direction=outgoing&limit=2").json
    assert [r["id"] for r in page["items"]] == [made[2]["id"], made[1]["id"]]
    rest = alice.get(f"{HUGS}/requests?direction=outgoing&limit=2&cursor={page['next_cursor']}").json
    assert [r["id"] for r in rest["items"]] == [made[0]["id"]] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["direction=sideways", "status=open", "limit=500", "cursor=%%%", "unread=true", "direction="]
)
def test_bad_list_queries_are_422(person, query):
    assert person().get(f"{HUGS}/requests?{query}").status_code == 422


def test_two_concurrent_answers_one_wins_one_409(live):
    alice, bob, carol = live(), live(), live()
    request = alice.ask()
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def answer(who) -> None:
        barrier.wait()
        results[who.id] = who.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"}).status_code

    threads = [threading.Thread(target=answer, args=(p,)) for p in (bob, carol)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results.values()) == [200, 409]
    received = alice.get(f"{HUGS}/received").json["items"]
    assert len(received) == 1 and received[0]["hug_request_id"] == request["id"]


def test_request_flood_limit_refuses_with_429_and_retry_after(flood_app, person_on, redis_client):
    with flood_app.app_context(), rolled_back(db):
        client = flood_app.test_client()
        alice, bob, carol = (person_on(client) for _ in range(3))
        alice.ask(bob, message="spam")
        alice.ask(bob, message="spam")
        refused = alice.post(f"{HUGS}/request", json={"recipient_id": bob.id, "message": "spam"})
        assert refused.status_code == 429 and refused.json["code"] == "hug.request_flood"
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Per pair: alice may still ask carol, carol may ask bob.
        alice.ask(carol)
        carol.ask(bob)
        # Community requests have their own budget per requester.
        alice.ask()
        alice.ask()
        assert alice.post(f"{HUGS}/request", json={}).status_code == 429
        db.session.execute(update(HugRequest).values(created_at=HugRequest.created_at - timedelta(seconds=61)))
        alice.ask(bob)
        alice.ask()
