"""Data rights: the caller's export, the admin's erasure report, and the UserDeleted consumer that
erases every row naming the user (and keeps refusing new ones)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import String, cast, func, or_, select

from services.social.models import (
    Activity,
    Block,
    ClosedToRequests,
    FriendRequest,
    Friendship,
    RelationClock,
    Share,
    db,
)
from shared.sqlstate import is_erasure_refusal
from tests.integration.social.conftest import SHARE, Viewer, assert_gone, deliver, event, share, view

EXPORT = "/internal/v1/account/export"
ERASURES = "/internal/v1/erasures/"
TABLES = {"activities", "friendships", "blocks", "friend_requests", "relation_clocks", "shares", "closed_to_requests"}

# The social section of an export that holds nothing of the caller.
EMPTY_EXPORT = {
    "activities": [],
    "shares": [],
    "friends": [],
    "blocked": [],
    "friend_requests_sent": [],
    "friend_requests_received": [],
}


def milestone(person: Viewer, days: int = 7) -> dict[str, Any]:
    """A streak milestone of `person` (an achievement they may share), as their feed shows it."""
    deliver(event("StreakMilestone", user_id=person.id, days=days, streak_start="2026-11-01", public_entries=True))
    items = person.get("/api/v1/social/feed").json["items"]
    [made] = [a for a in items if a["type"] == "streak_milestone" and a["user_id"] == person.id]
    return made


def naming(user_id: str) -> int:
    """Rows of the social schema's own tables that name the user anywhere, counted without USER_DATA."""
    user = uuid.UUID(user_id)
    in_data = func.strpos(cast(Activity.data, String), user_id) > 0
    checks = [
        (Activity, or_(Activity.user_id == user, Activity.object_id == user, in_data)),
        (Friendship, or_(Friendship.user_id == user, Friendship.friend_id == user)),
        (Block, or_(Block.blocker_id == user, Block.blocked_id == user)),
        (FriendRequest, or_(FriendRequest.requester_id == user, FriendRequest.addressee_id == user)),
        (RelationClock, or_(RelationClock.a == user, RelationClock.b == user)),
        (Share, Share.owner_id == user),
        (ClosedToRequests, ClosedToRequests.user_id == user),
    ]
    return sum(db.session.execute(select(func.count()).select_from(m).where(w)).scalar_one() for m, w in checks)


def report(client, token_for, user_id: str) -> dict[str, Any]:
    admin = token_for(str(uuid.uuid4()), roles=["user", "admin"])
    response = client.get(ERASURES + user_id, headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def world(client, viewer, member):
    """Alice and everything around her: her own activities and shares, bob (her friend) who names
    her in his activities, carol who blocks her, dave she blocks, requests both ways; and, unrelated
    to alice, bob's friendship with erin and bob's own share."""
    # Alice and bob have real accounts: a milestone is announced as their share_moods_with allows.
    alice, bob = member(), member()
    carol, dave, erin, frank = (viewer() for _ in range(4))
    alice.befriend(bob)
    bob.befriend(erin)
    carol.block(alice)
    alice.block(dave)
    deliver(event("FriendRequested", requester_id=alice.id, addressee_id=erin.id))
    deliver(event("FriendRequested", requester_id=frank.id, addressee_id=alice.id))
    own = {v: alice.share(v, data={"secret": f"alice's {v} note"}) for v in ("public", "friends", "private")}
    about_alice = [
        bob.share("friends", data={"hugged": {"who": [alice.id]}}),
        bob.share("private", object_id=alice.id),
    ]
    bobs_own = bob.share("private", data={"secret": "bob's private note"})
    alice_milestone, bob_milestone = milestone(alice), milestone(bob, days=30)
    alice_share = share(alice, "achievement", alice_milestone["id"])
    revoked = share(alice, "achievement", alice_milestone["id"], platform="mastodon")
    assert alice.delete(f"{SHARE}/{revoked['id']}").status_code == 204
    bob_share = share(bob, "achievement", bob_milestone["id"])
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "dave": dave,
        "erin": erin,
        "frank": frank,
        "own": own,
        "about_alice": about_alice,
        "bobs_own": bobs_own,
        "alice_milestone": alice_milestone,
        "alice_share": alice_share,
        "revoked": revoked,
        "bob_share": bob_share,
    }


def test_export_holds_the_callers_own_data_and_nothing_private_of_others(client, world):
    alice, bob = world["alice"], world["bob"]
    response = alice.get(EXPORT)
    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {
        "activities",
        "shares",
        "friends",
        "blocked",
        "friend_requests_sent",
        "friend_requests_received",
    }

    # Every activity of hers, private ones with their data; none of anyone else's.
    by_id = {a["id"]: a for a in body["activities"]}
    for visibility, made in world["own"].items():
        assert by_id[made["id"]] == made
        assert by_id[made["id"]]["data"] == {"secret": f"alice's {visibility} note"}
    assert world["alice_milestone"]["id"] in by_id
    [new_friend] = [a for a in body["activities"] if a["type"] == "new_friend"]
    assert new_friend["object_id"] == bob.id
    assert {a["user_id"] for a in body["activities"]} == {alice.id}
    assert len(body["activities"]) == 5
    for theirs in (*world["about_alice"], world["bobs_own"]):
        assert theirs["id"] not in response.text
    assert "bob's private note" not in response.text

    # Her shares, the revoked one too, each with its URL; the live URL works.
    shares = {s["id"]: s for s in body["shares"]}
    assert set(shares) == {world["alice_share"]["id"], world["revoked"]["id"]}
    live, revoked = shares[world["alice_share"]["id"]], shares[world["revoked"]["id"]]
    assert live == {**world["alice_share"], "revoked_at": None}
    assert revoked["share_url"] == world["revoked"]["share_url"] and revoked["revoked_at"] is not None
    assert view(client, live["share_url"]).status_code == 200
    assert world["bob_share"]["id"] not in response.text

    # Her side of the graph; not who blocks her.
    assert [f["user_id"] for f in body["friends"]] == [bob.id]
    assert [b["user_id"] for b in body["blocked"]] == [world["dave"].id]
    assert [r["user_id"] for r in body["friend_requests_sent"]] == [world["erin"].id]
    assert [r["user_id"] for r in body["friend_requests_received"]] == [world["frank"].id]
    assert all(r["since"].endswith("Z") for r in body["friends"] + body["blocked"])
    assert world["carol"].id not in response.text


def test_export_of_a_friend_leaves_out_the_callers_friends_only_and_private_activities(client, world):
    bob = world["bob"]
    body = bob.get(EXPORT).json
    ids = {a["id"] for a in body["activities"]}
    assert {a["id"] for a in world["about_alice"]} | {world["bobs_own"]["id"]} <= ids
    assert not ids & {a["id"] for a in world["own"].values()}
    assert {a["user_id"] for a in body["activities"]} == {bob.id}
    assert [s["id"] for s in body["shares"]] == [world["bob_share"]["id"]]


def test_export_of_someone_the_service_never_saw_is_empty_lists(client, viewer):
    assert viewer().get(EXPORT).json == EMPTY_EXPORT


def test_the_data_rights_endpoints_need_a_token(client):
    assert client.get(EXPORT).status_code == 401
    assert client.get(ERASURES + str(uuid.uuid4())).status_code == 401


def test_erasure_report_is_for_admins_and_counts_the_rows_naming_the_user(client, world, token_for):
    alice = world["alice"]
    body = report(client, token_for, alice.id)
    assert body["user_id"] == alice.id and body["erased"] is False
    assert set(body["rows"]) == TABLES | {"outbox", "dead_letters"}
    assert body["rows"]["activities"] == 5 + 2 + 1  # her own five, bob's two naming her, bob's new_friend
    assert body["rows"]["friendships"] == 2
    assert body["rows"]["blocks"] == 2
    assert body["rows"]["friend_requests"] == 2
    assert body["rows"]["shares"] == 2
    assert body["total"] == sum(body["rows"].values()) == naming(alice.id)

    # The id is read case-insensitively and reported canonically.
    assert report(client, token_for, alice.id.upper())["user_id"] == alice.id

    response = alice.get(ERASURES + alice.id)
    assert response.status_code == 403 and response.content_type == "application/problem+json"


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", "0" * 33, "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"])
def test_erasure_report_of_a_malformed_id_is_404(client, token_for, bad):
    admin = token_for(str(uuid.uuid4()), roles=["user", "admin"])
    response = client.get(ERASURES + bad, headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_user_deleted_erases_every_row_naming_the_user_and_nothing_else(client, world, token_for):
    alice, bob, erin = world["alice"], world["bob"], world["erin"]
    bob_before = bob.get(EXPORT).json
    deleted = event("UserDeleted", user_id=alice.id)
    deliver(deleted)

    body = report(client, token_for, alice.id)
    assert body["erased"] is True and body["total"] == 0
    assert naming(alice.id) == 0
    assert alice.get(EXPORT).json == EMPTY_EXPORT

    # Her links are dead; bob's own link, activities and friendship with erin stay.
    assert_gone(client, world["alice_share"]["share_url"])
    assert view(client, world["bob_share"]["share_url"]).status_code == 200
    bob_after = bob.get(EXPORT).json
    gone = {a["id"] for a in world["about_alice"]}
    assert {a["id"] for a in bob_after["activities"]} == {a["id"] for a in bob_before["activities"]} - gone - {
        a["id"] for a in bob_before["activities"] if a["type"] == "new_friend" and a["object_id"] == alice.id
    }
    assert world["bobs_own"]["id"] in {a["id"] for a in bob_after["activities"]}
    assert [f["user_id"] for f in bob_after["friends"]] == [erin.id]
    assert bob_after["shares"] == bob_before["shares"]
    assert alice.id not in bob.get("/api/v1/social/feed").get_data(as_text=True)

    # Redelivered: nothing more to do, nothing breaks.
    deliver(deleted)
    assert report(client, token_for, alice.id)["total"] == 0
    assert bob.get(EXPORT).json == bob_after


def test_a_share_of_content_still_public_elsewhere_stops_when_its_owner_is_erased(client, sharer, moods):
    owner = sharer()
    url = share(owner, "mood", moods.record(owner, is_public=True)["id"])["share_url"]
    assert view(client, url).status_code == 200
    deliver(event("UserDeleted", user_id=owner.id))
    # The mood is still public in the mood service: only the erased share row ends the link.
    assert_gone(client, url)


def test_after_erasure_requests_naming_the_user_are_404_and_create_nothing(client, viewer):
    alice, bob = viewer(), viewer()
    deliver(event("UserDeleted", user_id=alice.id))
    attempts = [
        (bob, {"type": "note", "visibility": "public", "object_id": alice.id}),
        (bob, {"type": "note", "visibility": "friends", "data": {"with": [{"id": alice.id}]}}),
        (alice, {"type": "note", "visibility": "public"}),
    ]
    for person, body in attempts:
        response = person.post("/api/v1/social/activities", json=body)
        assert response.status_code == 404, (body, response.json)
        assert response.json["code"] == "user.deleted"
        # A request's own app context would end its failed session; the test's outlives it.
        db.session.rollback()
    assert naming(alice.id) == 0
    assert bob.share("public")["user_id"] == bob.id


# Events naming an erased user that arrive after the erasure, built from (alice, bob).
LATE_EVENTS = {
    "FriendshipAccepted": lambda a, b: {"user_id": b, "friend_id": a},
    "FriendRequested": lambda a, b: {"requester_id": b, "addressee_id": a},
    "UserBlocked": lambda a, b: {"blocker_id": b, "blocked_id": a},
    "UserUnblocked": lambda a, b: {"blocker_id": a, "blocked_id": b},
    "FriendshipEnded": lambda a, b: {"user_id": a, "other_id": b, "reason": "unfriended"},
    "FriendRequestClosed": lambda a, b: {"requester_id": a, "addressee_id": b, "reason": "withdrawn"},
    "StreakMilestone": lambda a, b: {"user_id": a, "days": 7, "streak_start": "2026-11-01", "public_entries": True},
    "HugSent": lambda a, b: {
        "hug_id": str(uuid.uuid4()),
        "sender_id": a,
        "recipient_id": b,
        "type": "warm",
        "type_label": "Warm hug",
        "message": "late",
        "hug_request_id": None,
        "group_hug_id": None,
    },
}


@pytest.mark.parametrize("kind", LATE_EVENTS)
def test_a_late_event_naming_the_erased_user_is_refused_and_creates_nothing(client, viewer, kind):
    alice, bob = viewer(), viewer()
    deliver(event("UserDeleted", user_id=alice.id))
    with pytest.raises(Exception) as raised:
        deliver(event(kind, **LATE_EVENTS[kind](alice.id, bob.id)))
    assert is_erasure_refusal(raised.value), raised.value
    assert naming(alice.id) == 0
    # The service goes on: bob's own event still lands.
    deliver(event("StreakMilestone", user_id=bob.id, days=3, streak_start="2026-11-01", public_entries=True))
    assert [a["type"] for a in bob.get("/api/v1/social/feed").json["items"]] == ["streak_milestone"]
