"""Event consumers: the local friend graph, activities from events, each event acted on once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.social import create_app, tasks
from services.social.models import Activity, Block, FriendRequest, Friendship, db
from shared.errors import ProblemError
from tests.integration.social.conftest import deliver, event


def rows(model, **where):
    return db.session.execute(select(func.count()).select_from(model).filter_by(**where)).scalar_one()


def activities(**where):
    return list(db.session.execute(select(Activity).filter_by(**where)).scalars())


def test_friendship_accepted_adds_both_directions_and_new_friend_activities_once(viewer):
    alice, bob = viewer(), viewer()
    deliver(event("FriendRequested", requester_id=alice.id, addressee_id=bob.id))
    accepted = event("FriendshipAccepted", user_id=alice.id, friend_id=bob.id)
    deliver(accepted)
    deliver(accepted)
    assert rows(Friendship, user_id=uuid.UUID(alice.id)) == 1 and rows(Friendship, user_id=uuid.UUID(bob.id)) == 1
    assert rows(FriendRequest, requester_id=uuid.UUID(alice.id)) == 0
    made = activities(type="new_friend")
    assert sorted((str(a.user_id), str(a.object_id)) for a in made) == sorted([(alice.id, bob.id), (bob.id, alice.id)])
    assert {a.visibility for a in made} == {"friends"}


def test_friendship_ended_removes_both_directions_once(viewer):
    alice, bob = viewer(), viewer()
    alice.befriend(bob)
    ended = event("FriendshipEnded", user_id=bob.id, other_id=alice.id, reason="unfriended")
    deliver(ended)
    alice.befriend(bob)  # befriended again, then the old end is redelivered: acts once
    deliver(ended)
    assert rows(Friendship, user_id=uuid.UUID(alice.id)) == 1


@pytest.mark.parametrize("ending", ["FriendshipEnded", "UserBlocked"])
def test_the_end_of_a_friendship_takes_its_new_friend_activities_with_it(viewer, ending):
    alice, bob, carol = viewer(), viewer(), viewer()
    alice.befriend(bob)
    alice.befriend(carol)
    data = (
        {"user_id": bob.id, "other_id": alice.id, "reason": "unfriended"}
        if ending == "FriendshipEnded"
        else {"blocker_id": bob.id, "blocked_id": alice.id}
    )
    deliver(event(ending, **data))
    left = sorted((str(a.user_id), str(a.object_id)) for a in activities(type="new_friend"))
    assert left == sorted([(alice.id, carol.id), (carol.id, alice.id)])  # alice and carol are still friends


def test_an_end_arriving_before_its_accept_does_not_resurrect_the_friendship(viewer):
    alice, bob = viewer(), viewer()
    now = datetime.now(UTC)
    deliver(event("FriendshipEnded", at=now, user_id=alice.id, other_id=bob.id, reason="unfriended"))
    deliver(event("FriendshipAccepted", at=now - timedelta(seconds=1), user_id=alice.id, friend_id=bob.id))
    assert rows(Friendship, user_id=uuid.UUID(alice.id)) == 0


def test_a_late_block_does_not_undo_a_newer_unblock(viewer):
    alice, bob = viewer(), viewer()
    now = datetime.now(UTC)
    deliver(event("UserUnblocked", at=now, blocker_id=alice.id, blocked_id=bob.id))
    deliver(event("UserBlocked", at=now - timedelta(seconds=1), blocker_id=alice.id, blocked_id=bob.id))
    assert rows(Block, blocker_id=uuid.UUID(alice.id)) == 0


def test_block_ends_friendship_and_requests_and_unblock_lifts_it_once(viewer):
    alice, bob, carol = viewer(), viewer(), viewer()
    alice.befriend(bob)
    deliver(event("FriendRequested", requester_id=carol.id, addressee_id=alice.id))
    blocked = event("UserBlocked", blocker_id=alice.id, blocked_id=bob.id)
    deliver(blocked)
    deliver(blocked)
    assert rows(Friendship, user_id=uuid.UUID(alice.id)) == 0 and rows(Block, blocker_id=uuid.UUID(alice.id)) == 1
    deliver(event("UserBlocked", blocker_id=alice.id, blocked_id=carol.id))
    assert rows(FriendRequest, requester_id=uuid.UUID(carol.id)) == 0
    unblocked = event("UserUnblocked", blocker_id=alice.id, blocked_id=bob.id)
    deliver(unblocked)
    alice.block(bob)
    deliver(unblocked)  # redelivered after a newer block: acts once
    assert rows(Block, blocker_id=uuid.UUID(alice.id), blocked_id=uuid.UUID(bob.id)) == 1


def test_requests_are_added_and_closed_once(viewer):
    alice, bob = viewer(), viewer()
    requested = event("FriendRequested", requester_id=alice.id, addressee_id=bob.id)
    deliver(requested)
    deliver(requested)
    assert rows(FriendRequest, requester_id=uuid.UUID(alice.id)) == 1
    closed = event("FriendRequestClosed", requester_id=alice.id, addressee_id=bob.id, reason="declined")
    deliver(closed)
    deliver(event("FriendRequested", requester_id=alice.id, addressee_id=bob.id))
    deliver(closed)
    assert rows(FriendRequest, requester_id=uuid.UUID(alice.id)) == 1


def test_hug_sent_makes_one_private_activity_without_recipient_or_message(viewer):
    alice, bob = viewer(), viewer()
    hug_id = str(uuid.uuid4())
    alice.befriend(bob)
    hug = event(
        "HugSent",
        hug_id=hug_id,
        sender_id=alice.id,
        recipient_id=bob.id,
        type="warm",
        type_label="Warm hug",
        message="a secret note",
        hug_request_id=None,
        group_hug_id=None,
    )
    deliver(hug)
    deliver(hug)
    [made] = activities(type="hug_sent")
    assert str(made.user_id) == alice.id and str(made.object_id) == hug_id and made.visibility == "private"
    assert made.data == {} and bob.id not in str(made.data)
    assert str(made.id) in alice.feed() and str(made.id) not in bob.feed()


def milestone(owner, days=7, public_entries=True):
    return event(
        "StreakMilestone", user_id=owner.id, days=days, streak_start="2026-11-01", public_entries=public_entries
    )


@pytest.mark.parametrize("share", ["public", "friends"])
def test_a_milestone_of_public_entries_makes_one_friends_activity(member, viewer, share):
    alice, bob, stranger = member(), viewer(), viewer()
    alice.set_privacy(share_moods_with=share)
    alice.befriend(bob)
    reached = milestone(alice)
    deliver(reached)
    deliver(reached)
    [made] = activities(type="streak_milestone")
    assert made.visibility == "friends" and made.data == {"days": 7}
    assert str(made.id) in bob.feed() and str(made.id) not in stranger.feed()


def test_a_milestone_of_private_entries_makes_no_activity(member, viewer):
    alice, bob = member(), viewer()
    alice.set_privacy(share_moods_with="public")
    alice.befriend(bob)
    deliver(milestone(alice, public_entries=False))
    assert activities(type="streak_milestone") == []
    seen = bob.get("/api/v1/social/friends-activity").json["items"]
    assert [a for a in seen if a["type"] == "streak_milestone"] == []


def test_a_milestone_of_someone_sharing_with_no_one_stays_theirs_until_they_share(member, viewer):
    alice, bob = member(), viewer()
    alice.set_privacy(share_moods_with="none")
    alice.befriend(bob)
    deliver(milestone(alice))
    [made] = activities(type="streak_milestone")
    assert made.visibility == "private"
    assert str(made.id) in alice.feed() and str(made.id) not in bob.feed()
    alice.set_privacy(share_moods_with="friends")
    deliver(event("PrivacyChanged", user_id=alice.id))
    assert str(made.id) in bob.feed()
    alice.set_privacy(share_moods_with="none")
    deliver(event("PrivacyChanged", user_id=alice.id))
    assert str(made.id) not in bob.feed() and bob.get(f"/api/v1/social/activities/{made.id}").status_code == 404


def mood(kind, owner, mood_id, is_public=True):
    return event(
        kind, mood_id=mood_id, user_id=owner.id, is_public=is_public, recorded_at=datetime.now(UTC).isoformat()
    )


@pytest.mark.parametrize("share,expected", [("public", "public"), ("friends", "friends"), ("none", None)])
def test_public_mood_follows_the_owners_share_setting(member, moods, share, expected):
    alice = member()
    alice.set_privacy(share_moods_with=share)
    mood_id = moods.record(alice, is_public=True)["id"]
    recorded = mood("MoodRecorded", alice, mood_id)
    deliver(recorded)
    deliver(recorded)
    made = activities(type="mood_shared")
    assert [a.visibility for a in made] == ([expected] if expected else [])
    if made:
        assert str(made[0].object_id) == mood_id and made[0].data == {"mood_id": mood_id}


def test_private_mood_makes_no_activity(member, moods):
    alice = member()
    alice.set_privacy(share_moods_with="public")
    deliver(mood("MoodRecorded", alice, moods.record(alice)["id"], is_public=False))
    assert activities(type="mood_shared") == []


def test_mood_updates_and_deletion_follow_is_public(member, moods):
    alice = member()
    alice.set_privacy(share_moods_with="public")
    mood_id = moods.record(alice)["id"]
    deliver(mood("MoodRecorded", alice, mood_id, is_public=False))
    moods.change(alice, mood_id, is_public=True)
    deliver(mood("MoodUpdated", alice, mood_id, is_public=True))
    assert len(activities(type="mood_shared")) == 1
    deliver(mood("MoodUpdated", alice, mood_id, is_public=True))
    assert len(activities(type="mood_shared")) == 1
    moods.change(alice, mood_id, is_public=False)
    deliver(mood("MoodUpdated", alice, mood_id, is_public=False))
    assert activities(type="mood_shared") == []
    moods.change(alice, mood_id, is_public=True)
    deliver(mood("MoodUpdated", alice, mood_id, is_public=True))
    moods.delete(alice, mood_id)
    deleted = event("MoodDeleted", mood_id=mood_id, user_id=alice.id)
    deliver(deleted)
    deliver(deleted)
    assert activities(type="mood_shared") == []


def test_a_late_mood_event_does_not_revive_a_mood_deleted_or_made_private(member, moods):
    alice = member()
    alice.set_privacy(share_moods_with="public")
    gone = moods.record(alice, is_public=True)["id"]
    hidden = moods.record(alice, is_public=True)["id"]
    moods.delete(alice, gone)
    moods.change(alice, hidden, is_public=False)
    # Consumed out of order: the deletion and the update first, the recording they followed last.
    deliver(event("MoodDeleted", mood_id=gone, user_id=alice.id))
    deliver(mood("MoodUpdated", alice, hidden, is_public=False))
    deliver(mood("MoodRecorded", alice, gone))
    deliver(mood("MoodRecorded", alice, hidden))
    assert activities(type="mood_shared") == []


def test_a_mood_event_naming_someone_elses_mood_makes_no_activity(member, moods):
    alice, mallory = member(), member()
    alice.set_privacy(share_moods_with="public")
    mallory.set_privacy(share_moods_with="public")
    deliver(mood("MoodRecorded", mallory, moods.record(alice, is_public=True)["id"]))
    assert activities(type="mood_shared") == []


def test_privacy_change_rederives_mood_activity_visibility(member, moods):
    alice = member()
    alice.set_privacy(share_moods_with="public")
    deliver(mood("MoodRecorded", alice, moods.record(alice, is_public=True)["id"]))
    alice.set_privacy(share_moods_with="friends")
    changed = event("PrivacyChanged", user_id=alice.id)
    deliver(changed)
    assert [a.visibility for a in activities(type="mood_shared")] == ["friends"]
    alice.set_privacy(share_moods_with="none")
    deliver(event("PrivacyChanged", user_id=alice.id))
    assert [a.visibility for a in activities(type="mood_shared")] == ["private"]
    alice.set_privacy(share_moods_with="public")
    deliver(changed)  # redelivered: acted on once already
    assert [a.visibility for a in activities(type="mood_shared")] == ["private"]


def test_user_service_failure_raises_so_the_consumer_is_retried(client, service_config, viewer, worker_app):
    broken = create_app({**service_config, "USER_URL": "http://127.0.0.1:9", "HTTP_TIMEOUT_SECONDS": "1"})
    worker_app(tasks, broken)
    alice = viewer()
    with pytest.raises(ProblemError):
        deliver(mood("MoodRecorded", alice, str(uuid.uuid4())))
    with pytest.raises(ProblemError):
        deliver(event("PrivacyChanged", user_id=alice.id))
    assert activities(type="mood_shared") == []
