"""Group hugs: creation with invitees, who may see and join them, completion and expiry."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.hug.models import GroupHug, OutboxEvent, db
from services.hug.service import expire_group_hugs
from shared.testing import rolled_back
from tests.integration.conditional import assert_etag_and_304

GROUP = "/api/v1/hugs/group"


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def open_people(person, n: int) -> list:
    people = [person() for _ in range(n)]
    for p in people:
        p.open_hugs()
    return people


def create(creator, invitees, **fields) -> dict:
    response = creator.post(GROUP, json={"name": "Team hug", "participant_ids": [p.id for p in invitees], **fields})
    assert response.status_code == 201, response.json
    assert response.headers["Location"] == f"{GROUP}/{response.json['id']}"
    return response.json


def test_create_group_hug_and_announce_it(person, events):
    alice = person()
    bob, carol = open_people(person, 2)
    before = datetime.now(UTC)
    body = create(alice, [bob, carol], description="for the launch", message="we did it")
    assert body["name"] == "Team hug" and body["creator_id"] == alice.id and body["status"] == "active"
    assert body["description"] == "for the launch" and body["message"] == "we did it"
    assert body["participants"] == [{"user_id": bob.id, "joined_at": None}, {"user_id": carol.id, "joined_at": None}]
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - before < timedelta(hours=24, minutes=1)
    assert body["completed_at"] is None and body["created_at"].endswith("Z")
    [created] = events("GroupHugCreated")
    assert created["data"]["group_hug_id"] == body["id"] and created["data"]["creator_id"] == alice.id
    assert created["data"]["name"] == "Team hug" and created["data"]["participant_ids"] == [bob.id, carol.id]
    assert datetime.fromisoformat(created["data"]["expires_at"]) == expires


def test_explicit_expiry_and_friend_invitees(person):
    alice, bob = person(), person()
    alice.befriend(bob)  # bob keeps the default: hugs from friends
    when = datetime.now(UTC) + timedelta(days=3)
    body = create(alice, [bob], expires_at=iso(when))
    assert datetime.fromisoformat(body["expires_at"]) == when.replace(microsecond=when.microsecond)


def test_invitees_must_exist_and_admit_the_creator(person, events):
    alice, stranger = person(), person()
    open_bob, wary = open_people(person, 2)
    wary.block(alice)
    ghost = str(uuid.uuid4())
    unknown = alice.post(GROUP, json={"name": "x", "participant_ids": [open_bob.id, ghost]})
    assert unknown.status_code == 422 and list(unknown.json["errors"]["participant_ids"]) == [ghost]
    refused = alice.post(GROUP, json={"name": "x", "participant_ids": [open_bob.id, stranger.id]})
    assert refused.status_code == 403 and list(refused.json["errors"]["participant_ids"]) == [stranger.id]
    blocked = alice.post(GROUP, json={"name": "x", "participant_ids": [open_bob.id, wary.id]})
    assert blocked.status_code == 403
    assert events() == []


def test_creator_cannot_invite_themself(person):
    alice = person()
    response = alice.post(GROUP, json={"name": "x", "participant_ids": [alice.id]})
    assert response.status_code == 422 and "participant_ids" in response.json["errors"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"participant_ids": ["P"]}, "name"),
        ({"name": "", "participant_ids": ["P"]}, "name"),
        ({"name": "   ", "participant_ids": ["P"]}, "name"),
        ({"name": "x" * 101, "participant_ids": ["P"]}, "name"),
        ({"name": "x", "participant_ids": ["P"], "description": "d" * 501}, "description"),
        ({"name": "x", "participant_ids": ["P"], "message": "m" * 501}, "message"),
        ({"name": "x"}, "participant_ids"),
        ({"name": "x", "participant_ids": []}, "participant_ids"),
        ({"name": "x", "participant_ids": ["P", "P"]}, "participant_ids"),
        ({"name": "x", "participant_ids": ["not-a-uuid"]}, "participant_ids"),
        ({"name": "x", "participant_ids": "P"}, "participant_ids"),
        ({"name": "x", "participant_ids": [str(uuid.UUID(int=i)) for i in range(51)]}, "participant_ids"),
        ({"name": "x", "participant_ids": ["P"], "expires_at": "PAST"}, "expires_at"),
        ({"name": "x", "participant_ids": ["P"], "expires_at": "FAR"}, "expires_at"),
        ({"name": "x", "participant_ids": ["P"], "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "x", "participant_ids": ["P"], "status": "completed"}, "status"),
    ],
)
def test_bad_group_bodies_are_422(person, events, body, field):
    alice, bob = person(), person()
    stand_ins = {
        "P": bob.id,
        "PAST": iso(datetime.now(UTC) - timedelta(minutes=1)),
        "FAR": iso(datetime.now(UTC) + timedelta(days=31)),
    }
    body = {
        k: ([stand_ins.get(x, x) for x in v] if isinstance(v, list) else stand_ins.get(v, v)) for k, v in body.items()
    }
    response = alice.post(GROUP, json=body)
    assert response.status_code == 422 and field in response.json["errors"], response.json
    assert events() == []


def test_only_creator_and_participants_see_it(person):
    alice, eve = person(), person()
    (bob,) = open_people(person, 1)
    body = create(alice, [bob])
    assert alice.get(f"{GROUP}/{body['id']}").json == body
    assert bob.get(f"{GROUP}/{body['id']}").status_code == 200
    assert eve.get(f"{GROUP}/{body['id']}").status_code == 404
    assert alice.get(f"{GROUP}/not-a-uuid").status_code == 404
    assert alice.get(f"{GROUP}/{uuid.uuid4()}").status_code == 404


def test_joining_and_completion(person, events):
    alice = person()
    bob, carol = open_people(person, 2)
    group = create(alice, [bob, carol])
    joined = bob.put(f"{GROUP}/{group['id']}/join")
    assert joined.status_code == 200 and joined.json["status"] == "active"
    assert joined.json["participants"][0]["user_id"] == bob.id and joined.json["participants"][0]["joined_at"]
    assert joined.json["participants"][1]["joined_at"] is None
    done = carol.put(f"{GROUP}/{group['id']}/join").json
    assert done["status"] == "completed" and done["completed_at"]
    assert [e["data"] for e in events("GroupHugJoined")] == [
        {"group_hug_id": group["id"], "user_id": bob.id, "status": "active"},
        {"group_hug_id": group["id"], "user_id": carol.id, "status": "completed"},
    ]
    assert alice.get(f"{GROUP}/{group['id']}").json["status"] == "completed"


def test_join_twice_creator_and_strangers(person, events):
    alice, eve = person(), person()
    bob, carol = open_people(person, 2)
    group = create(alice, [bob, carol])
    bob.put(f"{GROUP}/{group['id']}/join")
    again = bob.put(f"{GROUP}/{group['id']}/join")
    assert again.status_code == 409 and again.json["code"] == "hug.group_already_joined"
    creator = alice.put(f"{GROUP}/{group['id']}/join")
    assert creator.status_code == 409 and creator.json["code"] == "hug.group_already_joined"
    assert eve.put(f"{GROUP}/{group['id']}/join").status_code == 404
    assert bob.put(f"{GROUP}/not-a-uuid/join").status_code == 404
    assert bob.put(f"{GROUP}/{uuid.uuid4()}/join").status_code == 404
    assert len(events("GroupHugJoined")) == 1


def _expire(group_id: str) -> None:
    db.session.execute(
        update(GroupHug)
        .where(GroupHug.id == uuid.UUID(group_id))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )


def test_past_expiry_reads_expired_before_the_task_and_refuses_joins(person, events):
    alice = person()
    bob, carol = open_people(person, 2)
    group = create(alice, [bob, carol])
    bob.put(f"{GROUP}/{group['id']}/join")
    _expire(group["id"])
    assert alice.get(f"{GROUP}/{group['id']}").json["status"] == "expired"
    late = carol.put(f"{GROUP}/{group['id']}/join")
    assert late.status_code == 409 and late.json["code"] == "hug.group_expired"
    assert len(events("GroupHugJoined")) == 1


def test_expire_task_marks_only_overdue_active_group_hugs(person):
    alice = person()
    bob, carol = open_people(person, 2)
    overdue, fresh, done = create(alice, [bob]), create(alice, [bob]), create(alice, [carol])
    carol.put(f"{GROUP}/{done['id']}/join")
    _expire(overdue["id"])
    _expire(done["id"])
    assert expire_group_hugs() >= 1
    mine = select(GroupHug).where(GroupHug.creator_id == uuid.UUID(alice.id))
    rows = {str(g.id): g.status for g in db.session.execute(mine).scalars()}
    assert rows == {overdue["id"]: "expired", fresh["id"]: "active", done["id"]: "completed"}
    assert expire_group_hugs() == 0  # idempotent


def test_beat_schedule_runs_the_expiry_task_every_30_seconds():
    from services.hug import tasks

    assert tasks.BEAT_SCHEDULE["hug.expire_group_hugs"] == {"task": "hug.expire_group_hugs", "schedule": 30.0}
    assert tasks.expire_group_hugs.name == "hug.expire_group_hugs"


def test_two_last_invitees_joining_at_once_complete_it_once(live, hug_app):
    alice, bob, carol = live(), live(), live()
    bob.open_hugs()
    carol.open_hugs()
    group = create(alice, [bob, carol])
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def join(who) -> None:
        barrier.wait()
        statuses.append(who.put(f"{GROUP}/{group['id']}/join").status_code)

    threads = [threading.Thread(target=join, args=(p,)) for p in (bob, carol)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert statuses == [200, 200]
    assert alice.get(f"{GROUP}/{group['id']}").json["status"] == "completed"
    with hug_app.app_context():
        joined = [
            e.payload["data"]["status"]
            for e in db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == "GroupHugJoined")).scalars()
            if e.payload["data"]["group_hug_id"] == group["id"]
        ]
        db.session.rollback()
    assert sorted(joined) == ["active", "completed"]


def test_the_celery_task_expires_committed_group_hugs(live, hug_app, database_url, redis_url, monkeypatch):
    from services.hug import tasks

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    alice, bob = live(), live()
    bob.open_hugs()
    group = create(alice, [bob])
    with hug_app.app_context():
        _expire(group["id"])
        db.session.commit()
    assert tasks.expire_group_hugs() >= 1
    with hug_app.app_context():
        assert db.session.get(GroupHug, uuid.UUID(group["id"])).status == "expired"
    assert tasks.expire_group_hugs() == 0


def test_group_invite_flood_limit_refuses_with_429_naming_the_invitee(flood_app, person_on, redis_client):
    with flood_app.app_context(), rolled_back(db):
        client = flood_app.test_client()
        alice, bob, carol, dave = (person_on(client) for _ in range(4))
        for invitee in (bob, carol, dave):
            invitee.open_hugs()
        create(alice, [bob])
        create(alice, [bob, carol])
        refused = alice.post(GROUP, json={"name": "again", "participant_ids": [carol.id, bob.id]})
        assert refused.status_code == 429 and refused.json["code"] == "hug.group_invite_flood"
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert list(refused.json["errors"]["participant_ids"]) == [bob.id]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        created = db.session.execute(select(OutboxEvent).where(OutboxEvent.event_type == "GroupHugCreated")).all()
        assert len(created) == 2
        # Per pair: carol has one invite left from alice, and someone else may still invite bob.
        create(alice, [carol, dave])
        create(dave, [bob])
        db.session.execute(update(GroupHug).values(created_at=GroupHug.created_at - timedelta(seconds=61)))
        create(alice, [bob])


def test_a_group_hug_has_an_etag(person):
    creator, *invitees = open_people(person, 2)
    group = create(creator, invitees)
    tag = assert_etag_and_304(invitees[0].get, f"{GROUP}/{group['id']}")
    assert creator.get(f"{GROUP}/{group['id']}").headers["ETag"] == tag  # one representation for all who see it


def test_my_group_hugs_list_created_and_invited_newest_first_with_who_joined(person):
    alice, eve = person(), person()
    bob, carol = open_people(person, 2)
    first = create(alice, [bob, carol], name="first")
    second = create(bob, [carol], name="second")
    assert carol.put(f"{GROUP}/{first['id']}/join").status_code == 200
    mine = alice.get(GROUP)
    assert mine.status_code == 200 and mine.json["next_cursor"] is None
    [listed] = mine.json["items"]
    assert listed["id"] == first["id"] and listed["name"] == "first" and listed["creator_id"] == alice.id
    assert [p["user_id"] for p in listed["participants"]] == [bob.id, carol.id]
    assert listed["participants"][0]["joined_at"] is None and listed["participants"][1]["joined_at"].endswith("Z")
    assert listed == alice.get(f"{GROUP}/{first['id']}").json  # the same view as reading it alone
    # bob created one and was invited to the other; carol was invited to both (and joined one)
    assert [g["id"] for g in bob.get(GROUP).json["items"]] == [second["id"], first["id"]]
    assert [g["id"] for g in carol.get(GROUP).json["items"]] == [second["id"], first["id"]]
    # a stranger sees none of them
    assert eve.get(GROUP).json == {"items": [], "next_cursor": None}


def test_my_group_hugs_include_expired_and_completed_ones(person):
    alice = person()
    bob, carol = open_people(person, 2)
    done = create(alice, [bob])
    bob.put(f"{GROUP}/{done['id']}/join")
    gone = create(alice, [carol])
    db.session.execute(
        update(GroupHug).where(GroupHug.id == uuid.UUID(gone["id"])).values(expires_at=datetime.now(UTC))
    )
    statuses = {g["id"]: g["status"] for g in alice.get(GROUP).json["items"]}
    assert statuses == {done["id"]: "completed", gone["id"]: "expired"}


def test_my_group_hugs_page_with_the_cursor(person):
    alice = person()
    bob, carol = open_people(person, 2)
    groups = [create(alice, [bob if i % 2 else carol], name=f"g{i}") for i in range(5)]
    page = alice.get(f"{GROUP}?limit=2").json
    assert [g["id"] for g in page["items"]] == [groups[4]["id"], groups[3]["id"]]
    create(alice, [bob])  # a new one between pages: no duplicate, no gap
    page = alice.get(f"{GROUP}?limit=2&cursor={page['next_cursor']}").json
    assert [g["id"] for g in page["items"]] == [groups[2]["id"], groups[1]["id"]]
    page = alice.get(f"{GROUP}?limit=2&cursor={page['next_cursor']}").json
    assert [g["id"] for g in page["items"]] == [groups[0]["id"]] and page["next_cursor"] is None
    # bob, invited to two of the five (and the later one), pages only through his own
    assert [g["name"] for g in bob.get(f"{GROUP}?limit=100").json["items"]] == ["Team hug", "g3", "g1"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "cursor=garbage", "cursor=" + "a" * 513, "status=active"]
)
def test_bad_group_list_query_is_422(person, query):
    response = person().get(f"{GROUP}?{query}")
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
