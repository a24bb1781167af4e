"""Recommendations: friends of friends by mutual friends, with every exclusion."""

from __future__ import annotations

import pytest

from tests.integration.social.conftest import deliver, event


def recommended(who, query=""):
    response = who.get(f"/api/v1/social/recommendations{query}")
    assert response.status_code == 200, response.json
    return [(r["user_id"], r["mutual_friends"]) for r in response.json["items"]]


def test_ranked_by_mutual_friends(viewer):
    me, f1, f2, f3, two, one = (viewer() for _ in range(6))
    for friend in (f1, f2, f3):
        me.befriend(friend)
    for friend in (f1, f2):
        friend.befriend(two)
    f3.befriend(one)
    assert recommended(me) == [(two.id, 2), (one.id, 1)]
    assert recommended(me, "?limit=1") == [(two.id, 2)]


def test_never_self_friends_pending_or_blocked(viewer):
    me, f1, f2, asked, asker, blocked, blocker, candidate = (viewer() for _ in range(8))
    me.befriend(f1)
    me.befriend(f2)
    f1.befriend(f2)  # a friend of a friend who is already my friend
    for other in (asked, asker, blocked, blocker, candidate):
        f1.befriend(other)
    deliver(event("FriendRequested", requester_id=me.id, addressee_id=asked.id))
    deliver(event("FriendRequested", requester_id=asker.id, addressee_id=me.id))
    me.block(blocked)
    blocker.block(me)
    assert recommended(me) == [(candidate.id, 1)]


def test_nobody_to_recommend(viewer):
    assert recommended(viewer()) == []


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "limit=x", "cursor=abc", "user_id=x"])
def test_bad_query_gets_422(viewer, query):
    assert viewer().get(f"/api/v1/social/recommendations?{query}").status_code == 422


def test_requires_a_token(client):
    assert client.get("/api/v1/social/recommendations").status_code == 401


def test_never_someone_who_takes_no_friend_requests(viewer, member):
    me, friend, closed, open_ = viewer(), viewer(), member(), member()
    me.befriend(friend)
    friend.befriend(closed)
    friend.befriend(open_)
    closed.set_privacy(allow_friend_requests=False)
    deliver(event("PrivacyChanged", user_id=closed.id))
    assert recommended(me) == [(open_.id, 1)]
    closed.set_privacy(allow_friend_requests=True)
    deliver(event("PrivacyChanged", user_id=closed.id))
    assert sorted(recommended(me)) == sorted([(open_.id, 1), (closed.id, 1)])
