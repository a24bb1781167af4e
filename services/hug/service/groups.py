"""Group hugs: create with invitees, read, list a member's, join (the last join completes it), expire."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from services.hug import errors
from services.hug.models import GroupHug, GroupHugParticipant, OutboxEvent, db
from services.hug.service import flood
from services.hug.service.audience import admits_hugs, refuses_hugs
from shared.audience import AudienceSource
from shared.clock import utcnow
from shared.events import publish
from shared.pagination import paginate

DEFAULT_LIFETIME = timedelta(hours=24)


def effective_status(group: GroupHug, now: datetime | None = None) -> str:
    """The stored status, except that an active one past expires_at reads "expired" (before the
    beat task has caught up)."""
    if group.status == "active" and group.expires_at <= (now or utcnow()):
        return "expired"
    return group.status


def _participants(group_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[GroupHugParticipant]]:
    """The participants of each group, in invitation order (one query for all the groups)."""
    found: dict[uuid.UUID, list[GroupHugParticipant]] = {group_id: [] for group_id in group_ids}
    rows = db.session.execute(
        select(GroupHugParticipant)
        .where(GroupHugParticipant.group_hug_id.in_(group_ids))
        .order_by(GroupHugParticipant.group_hug_id, GroupHugParticipant.position)
        .execution_options(populate_existing=True)
    ).scalars()
    for participant in rows:
        found[participant.group_hug_id].append(participant)
    return found


def _view(group: GroupHug, participants: list[GroupHugParticipant]) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "message": group.message,
        "creator_id": group.creator_id,
        "participants": [{"user_id": p.user_id, "joined_at": p.joined_at} for p in participants],
        "status": effective_status(group),
        "expires_at": group.expires_at,
        "completed_at": group.completed_at,
        "created_at": group.created_at,
    }


def view(group: GroupHug) -> dict[str, Any]:
    """The group hug as its members see it."""
    return _view(group, _participants([group.id])[group.id])


def views(groups: list[GroupHug]) -> list[dict[str, Any]]:
    """Several group hugs as their members see them, in the given order."""
    participants = _participants([group.id for group in groups])
    return [_view(group, participants[group.id]) for group in groups]


def listing(*, user_id: uuid.UUID, args: dict[str, Any]) -> tuple[list[GroupHug], str | None]:
    """The group hugs the user created or was invited to (joined or not, any status), newest first."""
    invited = select(GroupHugParticipant.group_hug_id).where(GroupHugParticipant.user_id == user_id)
    query = select(GroupHug).where(or_(GroupHug.creator_id == user_id, GroupHug.id.in_(invited)))
    return paginate(db.session, query, time_column=GroupHug.created_at, id_column=GroupHug.id, page=args)


def create(
    *,
    creator_id: uuid.UUID,
    data: dict[str, Any],
    audience: AudienceSource,
    flood_limit: int,
    flood_window_seconds: int,
) -> GroupHug:
    """Create a group hug; every invitee must exist (else 422), admit hugs from the creator (else
    403) and be under the per-pair invite flood limit (else 429), each failure named under
    participant_ids."""
    invitees: list[uuid.UUID] = data["participant_ids"]
    if creator_id in invitees:
        raise errors.HugToSelf(
            "You cannot invite yourself.", errors={"participant_ids": ["Must not include yourself."]}
        )
    unknown: dict[str, list[str]] = {}
    refused: dict[str, list[str]] = {}
    for invitee in invitees:
        settings = audience.lookup(invitee, creator_id, refuses=refuses_hugs)
        if settings is None:
            unknown[str(invitee)] = ["No such user."]
        elif not admits_hugs(settings):
            refused[str(invitee)] = ["This person does not accept hugs from you."]
    if unknown:
        raise errors.UnknownInvitees("Some invitees do not exist.", errors={"participant_ids": unknown})
    if refused:
        raise errors.HugsNotAccepted("Some invitees do not accept hugs from you.", errors={"participant_ids": refused})
    flood.check_group_invites(creator_id, invitees, limit=flood_limit, window_seconds=flood_window_seconds)
    now = utcnow()
    group = GroupHug(
        id=uuid.uuid4(),
        creator_id=creator_id,
        name=data["name"],
        description=data.get("description"),
        message=data.get("message"),
        status="active",
        expires_at=data.get("expires_at") or now + DEFAULT_LIFETIME,
        created_at=now,
    )
    db.session.add(group)
    db.session.flush()
    db.session.add_all(
        GroupHugParticipant(group_hug_id=group.id, user_id=invitee, position=i) for i, invitee in enumerate(invitees)
    )
    publish(
        db.session,
        OutboxEvent,
        "GroupHugCreated",
        {
            "group_hug_id": str(group.id),
            "creator_id": str(creator_id),
            "name": group.name,
            "participant_ids": [str(i) for i in invitees],
            "expires_at": group.expires_at.isoformat(),
        },
    )
    db.session.commit()
    return group


def _member_group(group_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False) -> GroupHug:
    query = select(GroupHug).where(GroupHug.id == group_id).execution_options(populate_existing=True)
    group = db.session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if group is None:
        raise errors.GroupHugNotFound("No such group hug.")
    if group.creator_id != user_id and db.session.get(GroupHugParticipant, (group_id, user_id)) is None:
        raise errors.GroupHugNotFound("No such group hug.")
    return group


def read(*, group_id: uuid.UUID, viewer_id: uuid.UUID) -> GroupHug:
    """The group hug, for its creator and participants only (404 for anyone else)."""
    return _member_group(group_id, viewer_id)


def join(*, group_id: uuid.UUID, user_id: uuid.UUID) -> GroupHug:
    """An invitee joins, once, before expiry; the last one to join completes the group hug.

    The group row is locked (FOR UPDATE) so two last joiners cannot both see someone missing.
    """
    group = _member_group(group_id, user_id, lock=True)
    if group.creator_id == user_id:
        raise errors.AlreadyJoined("You created this group hug; you are in it already.")
    participant = db.session.execute(
        select(GroupHugParticipant)
        .where(GroupHugParticipant.group_hug_id == group_id, GroupHugParticipant.user_id == user_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    if participant.joined_at is not None:
        raise errors.AlreadyJoined("You have already joined this group hug.")
    now = utcnow()
    if effective_status(group, now) != "active":
        raise errors.GroupHugClosed("This group hug has expired.")
    participant.joined_at = now
    db.session.flush()
    waiting = db.session.execute(
        select(func.count()).where(
            GroupHugParticipant.group_hug_id == group_id, GroupHugParticipant.joined_at.is_(None)
        )
    ).scalar_one()
    if waiting == 0:
        group.status = "completed"
        group.completed_at = now
    publish(
        db.session,
        OutboxEvent,
        "GroupHugJoined",
        {"group_hug_id": str(group.id), "user_id": str(user_id), "status": group.status},
    )
    db.session.commit()
    return group


def expire_group_hugs(now: datetime | None = None) -> int:
    """Mark active group hugs past expires_at as expired; return how many (idempotent)."""
    result = db.session.execute(
        update(GroupHug)
        .where(GroupHug.status == "active", GroupHug.expires_at <= (now or utcnow()))
        .values(status="expired")
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount
