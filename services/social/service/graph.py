"""The local copy of the friend graph, blocks and pending requests, fed by the user service's events.

Order tolerance: every relation (a friendship, a block, a request) keeps the time of the last
event that changed it in `relation_clocks`; an event older than that is ignored, so an end that
arrives before its accept (or an unblock before its block) is not undone by the late one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from services.social.models import Activity, Block, ClosedToRequests, FriendRequest, Friendship, RelationClock, db
from services.social.service.activities import record_event_activity


def _advance(kind: str, a: uuid.UUID, b: uuid.UUID, at: datetime) -> bool:
    """Move the relation's clock to `at`; False (and no change) if a newer event already moved it."""
    stmt = insert(RelationClock).values(kind=kind, a=a, b=b, changed_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "a", "b"],
        set_={"changed_at": stmt.excluded.changed_at},
        where=RelationClock.changed_at <= stmt.excluded.changed_at,
    )
    return db.session.execute(stmt.returning(RelationClock.kind)).first() is not None


def _pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if str(a) < str(b) else (b, a)


def _drop_requests(a: uuid.UUID, b: uuid.UUID, at: datetime) -> None:
    for requester, addressee in ((a, b), (b, a)):
        if _advance("request", requester, addressee, at):
            db.session.execute(
                delete(FriendRequest).where(
                    FriendRequest.requester_id == requester, FriendRequest.addressee_id == addressee
                )
            )


def _unfriend(a: uuid.UUID, b: uuid.UUID, at: datetime) -> None:
    """End the friendship both ways, with the "new_friend" activities that announced it: a feed must
    not go on saying two people are friends after one of them unfriended or blocked the other."""
    if _advance("friendship", *_pair(a, b), at):
        db.session.execute(
            delete(Friendship).where(
                or_(
                    and_(Friendship.user_id == a, Friendship.friend_id == b),
                    and_(Friendship.user_id == b, Friendship.friend_id == a),
                )
            )
        )
        db.session.execute(
            delete(Activity).where(
                Activity.type == "new_friend",
                or_(
                    and_(Activity.user_id == a, Activity.object_id == b),
                    and_(Activity.user_id == b, Activity.object_id == a),
                ),
            )
        )


def accept_friendship(*, event_id: uuid.UUID, user_id: uuid.UUID, friend_id: uuid.UUID, at: datetime) -> None:
    """Both directions of the friendship, the request gone, a "new_friend" activity for each."""
    _drop_requests(user_id, friend_id, at)
    if not _advance("friendship", *_pair(user_id, friend_id), at):
        return
    db.session.execute(
        insert(Friendship)
        .values([{"user_id": user_id, "friend_id": friend_id}, {"user_id": friend_id, "friend_id": user_id}])
        .on_conflict_do_nothing()
    )
    for owner, other in ((user_id, friend_id), (friend_id, user_id)):
        # One event, two activities: each gets its own stable id derived from the event's.
        record_event_activity(
            source_event_id=uuid.uuid5(event_id, f"new_friend:{owner}"),
            user_id=owner,
            type="new_friend",
            visibility="friends",
            object_id=other,
        )


def end_friendship(*, user_id: uuid.UUID, other_id: uuid.UUID, at: datetime) -> None:
    """Remove both directions (if no newer accept arrived first)."""
    _unfriend(user_id, other_id, at)


def block(*, blocker_id: uuid.UUID, blocked_id: uuid.UUID, at: datetime) -> None:
    """Record the block; the friendship and requests between the two end with it."""
    _unfriend(blocker_id, blocked_id, at)
    _drop_requests(blocker_id, blocked_id, at)
    if _advance("block", blocker_id, blocked_id, at):
        db.session.execute(insert(Block).values(blocker_id=blocker_id, blocked_id=blocked_id).on_conflict_do_nothing())


def unblock(*, blocker_id: uuid.UUID, blocked_id: uuid.UUID, at: datetime) -> None:
    if _advance("block", blocker_id, blocked_id, at):
        db.session.execute(delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id))


def request_friendship(*, requester_id: uuid.UUID, addressee_id: uuid.UUID, at: datetime) -> None:
    if _advance("request", requester_id, addressee_id, at):
        db.session.execute(
            insert(FriendRequest).values(requester_id=requester_id, addressee_id=addressee_id).on_conflict_do_nothing()
        )


def close_request(*, requester_id: uuid.UUID, addressee_id: uuid.UUID, at: datetime) -> None:
    """A request declined or withdrawn."""
    if _advance("request", requester_id, addressee_id, at):
        db.session.execute(
            delete(FriendRequest).where(
                FriendRequest.requester_id == requester_id, FriendRequest.addressee_id == addressee_id
            )
        )


def take_friend_requests(*, user_id: uuid.UUID, allowed: bool) -> None:
    """Record the user's allow_friend_requests, as the user service says it is now (caller commits)."""
    if allowed:
        db.session.execute(delete(ClosedToRequests).where(ClosedToRequests.user_id == user_id))
    else:
        db.session.execute(insert(ClosedToRequests).values(user_id=user_id).on_conflict_do_nothing())


def recommendations(*, user_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    """Friends of friends ranked by mutual friends; never self, friends, pending, blocked, or anyone
    who takes no friend requests (one query)."""
    mine, theirs = Friendship.__table__.alias("mine"), Friendship.__table__.alias("theirs")
    candidate = theirs.c.friend_id
    already = exists().where(Friendship.user_id == user_id, Friendship.friend_id == candidate)
    pending = exists().where(
        or_(
            and_(FriendRequest.requester_id == user_id, FriendRequest.addressee_id == candidate),
            and_(FriendRequest.requester_id == candidate, FriendRequest.addressee_id == user_id),
        )
    )
    blocked = exists().where(
        or_(
            and_(Block.blocker_id == user_id, Block.blocked_id == candidate),
            and_(Block.blocker_id == candidate, Block.blocked_id == user_id),
        )
    )
    closed = exists().where(ClosedToRequests.user_id == candidate)
    mutual = func.count().label("mutual_friends")
    query = (
        select(candidate.label("user_id"), mutual)
        .select_from(mine.join(theirs, theirs.c.user_id == mine.c.friend_id))
        .where(mine.c.user_id == user_id, candidate != user_id, ~already, ~pending, ~blocked, ~closed)
        .group_by(candidate)
        .order_by(mutual.desc(), candidate)
        .limit(limit)
    )
    return [{"user_id": row.user_id, "mutual_friends": row.mutual_friends} for row in db.session.execute(query)]
