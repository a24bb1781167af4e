"""Data rights in the hug service: the caller's export, the admin's erasure report, the
UserDeleted consumer, and writes naming an erased user."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.hug import tasks
from services.hug.models import USER_DATA, GroupHug, GroupHugParticipant, Hug, HugRequest, ProcessedEvent, db

HUGS = "/api/v1/hugs"
EXPORT = "/internal/v1/account/export"
TABLES = {"hugs", "hug_requests", "group_hugs", "group_hug_participants", "outbox", "dead_letters"}


def user_deleted(user_id: str) -> dict:
    """A UserDeleted event as the relay delivers it."""
    return {
        "id": str(uuid.uuid4()),
        "type": "UserDeleted",
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"user_id": user_id},
    }


@pytest.fixture
def erase(worker_app, hug_app):
    """Run the UserDeleted consumer against the test app; returns the event it consumed."""
    worker_app(tasks, hug_app)

    def run(user_id: str, event: dict | None = None) -> dict:
        event = event or user_deleted(user_id)
        tasks.on_user_deleted(event)
        return event

    return run


def open_people(person, n: int) -> list:
    people = [person() for _ in range(n)]
    for someone in people:
        someone.open_hugs()
    return people


def group(creator, invitees, name: str) -> dict:
    response = creator.post(f"{HUGS}/group", json={"name": name, "participant_ids": [p.id for p in invitees]})
    assert response.status_code == 201, response.json
    return response.json


def answer(responder, request: dict, **body) -> dict:
    response = responder.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted", **body})
    assert response.status_code == 200, response.json
    return response.json


def messages(items: list[dict]) -> set[str]:
    return {item["message"] for item in items}


def test_export_holds_the_callers_hugs_requests_and_group_hugs(person):
    alice, bob, carol = open_people(person, 3)
    bob.hug(alice, message="from bob")
    alice.hug(bob, message="from alice")
    carol.hug(bob, message="carol to bob, private")
    alice.ask(bob, message="alice asks bob")
    bob.ask(alice, message="bob asks alice")
    carol.ask(message="carol's open community request")
    answered = carol.ask(message="carol's answered community request")
    answer(alice, answered, message="here you go")
    bob.ask(carol, message="bob asks carol, private")
    own = group(alice, [bob], "alice's group")
    invited = group(bob, [alice, carol], "bob's group")
    group(carol, [bob], "carol's group, private")

    response = alice.get(EXPORT)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"hugs_sent", "hugs_received", "hug_requests_made", "hug_requests_received", "group_hugs"}
    assert messages(body["hugs_sent"]) == {"from alice", "here you go"}
    assert messages(body["hugs_received"]) == {"from bob"}
    [received] = body["hugs_received"]
    assert received["sender_id"] == bob.id and received["recipient_id"] == alice.id
    assert received["is_read"] is False and received["created_at"].endswith("Z") and received["type"] == "warm"
    assert messages(body["hug_requests_made"]) == {"alice asks bob"}
    assert messages(body["hug_requests_received"]) == {"bob asks alice", "carol's answered community request"}
    community = next(r for r in body["hug_requests_received"] if r["is_community"])
    assert community["responder_id"] == alice.id and community["status"] == "accepted"
    assert [g["id"] for g in body["group_hugs"]] == [own["id"], invited["id"]]
    assert body["group_hugs"][1]["participants"] == [
        {"user_id": alice.id, "joined_at": None},
        {"user_id": carol.id, "joined_at": None},
    ]
    assert body["group_hugs"][1]["creator_id"] == bob.id and body["group_hugs"][1]["status"] == "active"
    text = json.dumps(body)
    for private in ("private", "carol's open community request"):
        assert private not in text


def test_export_of_someone_with_nothing_is_empty_lists(person):
    body = person().get(EXPORT).json
    assert body == {
        "hugs_sent": [],
        "hugs_received": [],
        "hug_requests_made": [],
        "hug_requests_received": [],
        "group_hugs": [],
    }


def test_data_rights_endpoints_need_a_token(client):
    assert client.get(EXPORT).status_code == 401
    assert client.get(f"/internal/v1/erasures/{uuid.uuid4()}").status_code == 401


def test_erasure_report_is_for_admins_only(person, erasure_report):
    alice, bob = open_people(person, 2)
    alice.hug(bob)
    alice.ask()
    group(alice, [bob], "team")
    response = erasure_report(alice.id)
    assert response.status_code == 200
    body = response.json
    assert body["user_id"] == alice.id and body["erased"] is False
    assert set(body["rows"]) == TABLES
    assert body["rows"]["hugs"] == 1 and body["rows"]["hug_requests"] == 1
    assert body["rows"]["group_hugs"] == 1 and body["rows"]["group_hug_participants"] == 0
    assert body["rows"]["outbox"] == 3 and body["total"] == sum(body["rows"].values())
    assert erasure_report(bob.id).json["rows"]["group_hug_participants"] == 1
    assert erasure_report(alice.id.upper()).json["user_id"] == alice.id
    forbidden = alice.get(f"/internal/v1/erasures/{alice.id}")
    assert forbidden.status_code == 403


@pytest.mark.parametrize("bad", ["nope", "123", f"{uuid.uuid4()}x"])
def test_erasure_report_of_a_malformed_id_is_404(erasure_report, bad):
    assert erasure_report(bad).status_code == 404


def test_user_deleted_erases_every_row_naming_the_user(person, erasure_report, erase, redis_client):
    alice, bob, gone = open_people(person, 3)
    alice.hug(gone, message="to gone")
    gone.hug(alice, message="from gone")
    kept_hug = alice.hug(bob, message="stays")
    gone.ask(alice)
    alice.ask(gone)
    answer(gone, alice.ask(message="answered by gone"))
    kept_request = bob.ask(message="bob's open request")
    group(gone, [alice], "gone's group")
    alices_group = group(alice, [gone, bob], "alice's group")
    bobs_group = group(bob, [alice], "bob's group")
    key_prefix = "hm:hug:audience:"
    assert redis_client.exists(f"{key_prefix}{gone.id}:{alice.id}", f"{key_prefix}{alice.id}:{gone.id}") == 2
    assert redis_client.exists(f"{key_prefix}{bob.id}:{alice.id}") == 1
    assert erasure_report(gone.id).json["total"] > 0

    event = erase(gone.id)

    report = erasure_report(gone.id).json
    assert report["erased"] is True and report["total"] == 0 and set(report["rows"]) == TABLES
    assert set(USER_DATA.remaining(db.session, gone.id).values()) == {0}
    assert [h.id for h in db.session.execute(select(Hug)).scalars()] == [uuid.UUID(kept_hug["id"])]
    assert [r.id for r in db.session.execute(select(HugRequest)).scalars()] == [uuid.UUID(kept_request["id"])]
    assert {g.id for g in db.session.execute(select(GroupHug)).scalars()} == {
        uuid.UUID(alices_group["id"]),
        uuid.UUID(bobs_group["id"]),
    }
    participants = db.session.execute(select(GroupHugParticipant.group_hug_id, GroupHugParticipant.user_id)).all()
    assert {(str(g), str(u)) for g, u in participants} == {(alices_group["id"], bob.id), (bobs_group["id"], alice.id)}
    assert alice.get(f"{HUGS}/group/{alices_group['id']}").json["participants"] == [
        {"user_id": bob.id, "joined_at": None}
    ]
    assert [key.decode() for key in redis_client.scan_iter(match=f"hm:hug:*{gone.id}*")] == []
    assert redis_client.exists(f"{key_prefix}{bob.id}:{alice.id}") == 1
    assert erasure_report(alice.id).json["total"] > 0

    # Redelivered: nothing more to erase, keys written meanwhile still go, and it counts once.
    redis_client.set(f"{key_prefix}{alice.id}:{gone.id}", "{}")
    erase(gone.id, event)
    assert redis_client.exists(f"{key_prefix}{alice.id}:{gone.id}") == 0
    assert erasure_report(gone.id).json["total"] == 0
    claims = select(func.count()).where(ProcessedEvent.event_id == uuid.UUID(event["id"]))
    assert db.session.execute(claims).scalar_one() == 1


def refused(response) -> None:
    """A write refused because it names an erased user (404 user.deleted)."""
    assert response.status_code == 404 and response.json["code"] == "user.deleted", response.json
    # The requests share the test's session, which a request's teardown would have reset.
    db.session.rollback()


def test_after_erasure_writes_naming_the_user_are_404_and_create_nothing(person, erasure_report, erase, events):
    alice, bob, gone = open_people(person, 3)
    erase(gone.id)
    before = len(events())

    refused(alice.post(HUGS, json={"recipient_id": gone.id, "type": "warm"}))
    refused(gone.post(HUGS, json={"recipient_id": alice.id, "type": "warm"}))
    refused(alice.post(f"{HUGS}/request", json={"recipient_id": gone.id}))
    refused(gone.post(f"{HUGS}/request", json={}))
    refused(alice.post(f"{HUGS}/group", json={"name": "x", "participant_ids": [bob.id, gone.id]}))

    assert erasure_report(gone.id).json["total"] == 0
    assert db.session.execute(select(func.count()).select_from(Hug)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(GroupHug)).scalar_one() == 0
    assert len(events()) == before
    # Everyone else carries on.
    assert alice.hug(bob)["recipient_id"] == bob.id


def test_answering_a_community_request_of_an_erased_user_is_404(person, erase):
    alice, gone = open_people(person, 2)
    request = gone.ask(message="anyone?")
    erase(gone.id)
    response = alice.put(f"{HUGS}/request/{request['id']}", json={"status": "accepted"})
    assert response.status_code == 404
