"""User business logic: profiles, privacy, friendships, blocks, search, audience checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import and_, delete, exists, func, literal, or_, select, text, union_all
from sqlalchemy.dialects.postgresql import insert

from services.user import errors, schemas
from services.user.models import Block, FriendRequest, Friendship, OutboxEvent, Privacy, Profile, db
from shared.errors import ServiceUnavailable
from shared.events import publish
from shared.http import ServiceClient
from shared.pagination import decode_cursor, encode_cursor, keyset_query, page_result

AuthLookup = Callable[[uuid.UUID], dict[str, Any] | None]
LAST_ACTIVE_EVERY_SECONDS = 60


def now() -> datetime:
    return datetime.now(UTC)


def parse_user_id(raw: str, *, caller: str | None = None) -> uuid.UUID:
    """A user id from a path: `me` is the caller; anything malformed is an unknown user (404)."""
    if raw == "me" and caller:
        raw = caller
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError):
        raise errors.UserNotFound() from None


def auth_lookup_via(client: ServiceClient) -> AuthLookup:
    """Ask the auth service who a user id is (None: no such account)."""

    def lookup(user_id: uuid.UUID) -> dict[str, Any] | None:
        response = client.get("auth", f"/internal/v1/auth/users/{user_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceUnavailable("The auth service could not confirm this user.", code="upstream.unavailable")
        return response.json()

    return lookup


# ---- profiles ---------------------------------------------------------------------------------


def create_profile(*, user_id: uuid.UUID, username: str, display_name: str) -> None:
    """Create the profile and default privacy of a new user; a second call changes nothing."""
    db.session.execute(
        insert(Profile)
        .values(user_id=user_id, username=username, display_name=display_name, timezone="UTC")
        .on_conflict_do_nothing()
    )
    db.session.execute(insert(Privacy).values(user_id=user_id).on_conflict_do_nothing())


def get_profile(user_id: uuid.UUID, *, auth_lookup: AuthLookup) -> Profile:
    """The profile; if UserRegistered has not arrived yet, built now from the auth service."""
    profile = db.session.get(Profile, user_id)
    if profile is not None:
        return profile
    account = auth_lookup(user_id)
    if account is None:
        raise errors.UserNotFound()
    create_profile(user_id=user_id, username=account["username"], display_name=account["username"])
    db.session.commit()
    return db.session.get(Profile, user_id)


def get_privacy(user_id: uuid.UUID, *, auth_lookup: AuthLookup) -> Privacy:
    get_profile(user_id, auth_lookup=auth_lookup)
    return db.session.get(Privacy, user_id)


def profile_view(profile: Profile, *, viewer_id: uuid.UUID) -> dict[str, Any]:
    """The profile as `viewer_id` may see it: last_active only if the owner shows online status."""
    privacy = db.session.get(Privacy, profile.user_id)
    view = {column.key: getattr(profile, column.key) for column in Profile.__table__.columns}
    if privacy is not None and not privacy.show_online_status and viewer_id != profile.user_id:
        view["last_active"] = None
    return view


def update_profile(
    *, user_id: uuid.UUID, caller_id: uuid.UUID, caller_is_admin: bool, data: dict[str, Any], auth_lookup: AuthLookup
) -> Profile:
    """Partial update by the owner or an admin."""
    if caller_id != user_id and not caller_is_admin:
        raise errors.NotYourProfile("Only the owner or an admin may change this profile.")
    profile = get_profile(user_id, auth_lookup=auth_lookup)
    for field, value in data.items():
        setattr(profile, field, value.strip() if field == "display_name" else value)
    profile.updated_at = now()
    db.session.commit()
    return profile


def update_privacy(*, user_id: uuid.UUID, data: dict[str, Any], auth_lookup: AuthLookup) -> Privacy:
    privacy = get_privacy(user_id, auth_lookup=auth_lookup)
    for field, value in data.items():
        setattr(privacy, field, value)
    privacy.updated_at = now()
    publish(db.session, OutboxEvent, "PrivacyChanged", {"user_id": str(user_id)})
    db.session.commit()
    return privacy


def touch_last_active(*, user_id: uuid.UUID, client: redis.Redis) -> None:
    """Record activity at most once a minute per user (a Redis key is the throttle)."""
    try:
        if not client.set(f"hm:user:active:{user_id}", 1, nx=True, ex=LAST_ACTIVE_EVERY_SECONDS):
            return
    except redis.RedisError:
        return
    db.session.execute(text("UPDATE users.profiles SET last_active = now() WHERE user_id = :u"), {"u": user_id})
    db.session.commit()


# ---- relations --------------------------------------------------------------------------------


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
    query = keyset_query(
        query, time_column=sub.c.since, id_column=sub.c.other, limit=limit, cursor=cursor, parse_id=uuid.UUID
    )
    found, next_cursor = page_result(db.session.execute(query).all(), limit, key=lambda r: (r.since, r.other))
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


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(*, caller_id: uuid.UUID, q: str, limit: int, cursor: str | None) -> tuple[list[Profile], str | None]:
    """Case-insensitive substring match on username and display name, ordered by username;
    never lists anyone who blocked the caller. `%`, `_` and quotes match literally."""
    pattern = f"%{_escape_like(q.lower())}%"
    query = select(Profile).where(
        or_(
            func.lower(Profile.username).like(pattern, escape="\\"),
            func.lower(Profile.display_name).like(pattern, escape="\\"),
        ),
        ~exists().where(Block.blocker_id == Profile.user_id, Block.blocked_id == caller_id),
    )
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(func.lower(Profile.username) > after)
    found = db.session.execute(query.order_by(func.lower(Profile.username)).limit(limit + 1)).scalars().all()
    next_cursor = encode_cursor(found[limit - 1].username.lower()) if len(found) > limit else None
    return list(found[:limit]), next_cursor


# ---- for other services -----------------------------------------------------------------------


def audience(*, owner_id: uuid.UUID, viewer_id: uuid.UUID, auth_lookup: AuthLookup) -> dict[str, Any]:
    """What another service needs to decide what `viewer_id` may see of, or send to, `owner_id`."""
    profile = get_profile(owner_id, auth_lookup=auth_lookup)
    privacy = db.session.get(Privacy, owner_id)
    return {
        "user_id": str(owner_id),
        "viewer_id": str(viewer_id),
        "timezone": profile.timezone,
        "share_moods_with": privacy.share_moods_with,
        "allow_hugs_from": privacy.allow_hugs_from,
        "allow_friend_requests": privacy.allow_friend_requests,
        "friends": owner_id != viewer_id and are_friends(owner_id, viewer_id),
        "blocked": owner_id != viewer_id and (has_blocked(owner_id, viewer_id) or has_blocked(viewer_id, owner_id)),
    }


# ---- data rights ------------------------------------------------------------------------------

_profile_export = schemas.ProfileOut()
_privacy_export = schemas.PrivacyExport()
_relations_export = schemas.Relation(many=True)


def export_account(user_id: str) -> dict[str, Any]:
    """The caller's section of their data export: profile, privacy settings, friends, friend
    requests both ways, and the users they blocked (never who blocked them), oldest first."""
    owner = uuid.UUID(user_id)
    profile, privacy = db.session.get(Profile, owner), db.session.get(Privacy, owner)
    kinds = {
        "friends": (Friendship.friend_id, Friendship.created_at, Friendship.user_id == owner),
        "friend_requests_sent": (
            FriendRequest.addressee_id,
            FriendRequest.created_at,
            FriendRequest.requester_id == owner,
        ),
        "friend_requests_received": (
            FriendRequest.requester_id,
            FriendRequest.created_at,
            FriendRequest.addressee_id == owner,
        ),
        "blocked": (Block.blocked_id, Block.created_at, Block.blocker_id == owner),
    }
    relations = union_all(
        *(
            select(other.label("user_id"), since.label("since"), literal(kind).label("kind")).where(where)
            for kind, (other, since, where) in kinds.items()
        )
    ).subquery()
    rows = db.session.execute(
        select(relations, Profile.username, Profile.display_name)
        .outerjoin(Profile, Profile.user_id == relations.c.user_id)
        .order_by(relations.c.since, relations.c.user_id)
    ).mappings()
    grouped: dict[str, list[Any]] = {kind: [] for kind in kinds}
    for row in rows:
        grouped[row["kind"]].append(row)
    return {
        "profile": _profile_export.dump(profile) if profile is not None else None,
        "privacy": _privacy_export.dump(privacy) if privacy is not None else None,
        **{kind: _relations_export.dump(found) for kind, found in grouped.items()},
    }
