"""Friendships, friend requests and blocks between two users, and the lists of them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, delete, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert

from services.user import errors
from services.user.models import Block, FriendRequest, Friendship, OutboxEvent, Privacy, Profile, db
from services.user.service.profiles import AuthLookup, get_profile
from shared.events import publish
from shared.pagination import paginate


def are_friends(a: uuid.UUID, b: uuid.UUID) -> bool:
    return db.session.get(Friendship, (a, b)) is not None


def has_blocked(blocker: uuid.UUID, blocked: uuid.UUID) -> bool:
    return db.session.get(Block, (blocker, blocked)) is not None


def _lock_pair(a: uuid.UUID, b: uuid.UUID) -> None:
    """Serialize changes to one pair of users (crossing requests, request vs block)."""
    first, second = sorted((str(a), str(b)))
    db.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(first + second))))


def _between(left: Any, right: Any, a: uuid.UUID, b: uuid.UUID) -> Any:
    """Rows linking a and b in either direction, for a table of (left, right) pairs."""
    return or_(and_(left == a, right == b), and_(left == b, right == a))


def _drop_requests(a: uuid.UUID, b: uuid.UUID) -> None:
    db.session.execute(
        delete(FriendRequest).where(_between(FriendRequest.requester_id, FriendRequest.addressee_id, a, b))
    )


def _befriend(a: uuid.UUID, b: uuid.UUID) -> None:
    _drop_requests(a, b)
    db.session.execute(
        insert(Friendship)
        .values([{"user_id": a, "friend_id": b}, {"user_id": b, "friend_id": a}])
        .on_conflict_do_nothing()
    )
    publish(db.session, OutboxEvent, "FriendshipAccepted", {"user_id": str(a), "friend_id": str(b)})


def request_friendship(*, caller_id: uuid.UUID, target_id: uuid.UUID, auth_lookup: AuthLookup) -> str:
    """Ask `target_id` to be friends: "pending", or "accepted" when they had already asked."""
    if caller_id == target_id:
        raise errors.NotYourself()
    get_profile(target_id, auth_lookup=auth_lookup)
    get_profile(caller_id, auth_lookup=auth_lookup)
    _lock_pair(caller_id, target_id)
    if has_blocked(target_id, caller_id):
        raise errors.Blocked("This user does not accept requests from you.")
    if has_blocked(caller_id, target_id):
        raise errors.Blocked("You have blocked this user; unblock them first.")
    if are_friends(caller_id, target_id):
        raise errors.AlreadyConnected("You are already friends.")
    if db.session.get(FriendRequest, (caller_id, target_id)) is not None:
        raise errors.AlreadyConnected("Your request is already pending.")
    if db.session.get(FriendRequest, (target_id, caller_id)) is not None:
        _befriend(target_id, caller_id)
        db.session.commit()
        return "accepted"
    if not db.session.get(Privacy, target_id).allow_friend_requests:
        raise errors.FriendRequestsClosed("This user does not accept friend requests.")
    db.session.add(FriendRequest(requester_id=caller_id, addressee_id=target_id))
    publish(
        db.session, OutboxEvent, "FriendRequested", {"requester_id": str(caller_id), "addressee_id": str(target_id)}
    )
    db.session.commit()
    return "pending"


def _end_friendship(a: uuid.UUID, b: uuid.UUID, reason: str) -> bool:
    removed = db.session.execute(
        delete(Friendship).where(_between(Friendship.user_id, Friendship.friend_id, a, b))
    ).rowcount
    if removed:
        publish(db.session, OutboxEvent, "FriendshipEnded", {"user_id": str(a), "other_id": str(b), "reason": reason})
    return bool(removed)


def _request_closed(requester_id: uuid.UUID, addressee_id: uuid.UUID, reason: str) -> None:
    """A pending request ended without a friendship ("declined" or "withdrawn")."""
    publish(
        db.session,
        OutboxEvent,
        "FriendRequestClosed",
        {"requester_id": str(requester_id), "addressee_id": str(addressee_id), "reason": reason},
    )


def answer(*, caller_id: uuid.UUID, other_id: uuid.UUID, status: str, auth_lookup: AuthLookup) -> str:
    """Accept or decline `other_id`'s request, or block `other_id` (anyone)."""
    if caller_id == other_id:
        raise errors.NotYourself("other_id")
    get_profile(other_id, auth_lookup=auth_lookup)
    _lock_pair(caller_id, other_id)
    if status == "blocked":
        _end_friendship(caller_id, other_id, "blocked")
        _drop_requests(caller_id, other_id)
        db.session.execute(insert(Block).values(blocker_id=caller_id, blocked_id=other_id).on_conflict_do_nothing())
        publish(db.session, OutboxEvent, "UserBlocked", {"blocker_id": str(caller_id), "blocked_id": str(other_id)})
        db.session.commit()
        return "blocked"
    pending = db.session.get(FriendRequest, (other_id, caller_id))
    if pending is None:
        if status == "accepted" and are_friends(caller_id, other_id):
            raise errors.AlreadyConnected("You are already friends.")
        raise errors.NoSuchRequest("This user has not asked you to be friends.")
    if status == "accepted":
        _befriend(other_id, caller_id)
    else:
        db.session.delete(pending)
        _request_closed(other_id, caller_id, "declined")
    db.session.commit()
    return status


def remove(*, caller_id: uuid.UUID, other_id: uuid.UUID) -> str:
    """Unfriend, withdraw the caller's own request, or unblock — whichever applies."""
    _lock_pair(caller_id, other_id)
    if _end_friendship(caller_id, other_id, "unfriended"):
        db.session.commit()
        return "unfriended"
    if db.session.execute(delete(Block).where(Block.blocker_id == caller_id, Block.blocked_id == other_id)).rowcount:
        publish(db.session, OutboxEvent, "UserUnblocked", {"blocker_id": str(caller_id), "blocked_id": str(other_id)})
        db.session.commit()
        return "unblocked"
    if db.session.execute(
        delete(FriendRequest).where(FriendRequest.requester_id == caller_id, FriendRequest.addressee_id == other_id)
    ).rowcount:
        _request_closed(caller_id, other_id, "withdrawn")
        db.session.commit()
        return "withdrawn"
    raise errors.NoSuchRequest("There is no friendship, request or block with this user.")


def list_relations(
    *, owner_id: uuid.UUID, caller_id: uuid.UUID, status: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Accepted friends for anyone; pending and blocked lists for the owner only."""
    if status != "accepted" and owner_id != caller_id:
        raise errors.NotYourProfile("Only the owner may see pending requests and blocks.")
    if status == "accepted" and has_blocked(owner_id, caller_id):
        raise errors.UserNotFound()
    if status == "accepted":
        rows = select(
            Friendship.friend_id.label("other"), Friendship.created_at.label("since"), literal(None).label("direction")
        ).where(Friendship.user_id == owner_id)
    elif status == "blocked":
        rows = select(
            Block.blocked_id.label("other"), Block.created_at.label("since"), literal(None).label("direction")
        ).where(Block.blocker_id == owner_id)
    else:
        rows = (
            select(
                FriendRequest.requester_id.label("other"),
                FriendRequest.created_at.label("since"),
                literal("incoming").label("direction"),
            )
            .where(FriendRequest.addressee_id == owner_id)
            .union_all(
                select(FriendRequest.addressee_id, FriendRequest.created_at, literal("outgoing")).where(
                    FriendRequest.requester_id == owner_id
                )
            )
        )
    sub = rows.subquery()
    query = select(
        sub.c.other, sub.c.since, sub.c.direction, Profile.username, Profile.display_name, Profile.avatar_url
    ).join(Profile, Profile.user_id == sub.c.other)
    page = {"limit": limit, "cursor": cursor}
    found, next_cursor = paginate(db.session, query, time_column=sub.c.since, id_column=sub.c.other, page=page)
    items = [
        {
            "user_id": r.other,
            "username": r.username,
            "display_name": r.display_name,
            "avatar_url": r.avatar_url,
            "status": status,
            "direction": r.direction,
            "since": r.since,
        }
        for r in found
    ]
    return items, next_cursor
