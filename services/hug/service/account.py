"""The caller's section of their data export: what the hug service keeps about them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select

from services.hug import schemas
from services.hug.models import GroupHug, GroupHugParticipant, Hug, HugRequest, db
from services.hug.service.groups import effective_status


def _group_hugs(owner: uuid.UUID) -> list[dict[str, Any]]:
    """The group hugs the user created or is invited to, each with its participants (as its
    members see it): two queries, however many groups."""
    invited = select(GroupHugParticipant.group_hug_id).where(GroupHugParticipant.user_id == owner)
    groups = list(
        db.session.execute(
            select(GroupHug)
            .where(or_(GroupHug.creator_id == owner, GroupHug.id.in_(invited)))
            .order_by(GroupHug.created_at, GroupHug.id)
        ).scalars()
    )
    participants: dict[uuid.UUID, list[GroupHugParticipant]] = defaultdict(list)
    rows = db.session.execute(
        select(GroupHugParticipant)
        .where(GroupHugParticipant.group_hug_id.in_([group.id for group in groups]))
        .order_by(GroupHugParticipant.group_hug_id, GroupHugParticipant.position)
    ).scalars()
    for participant in rows:
        participants[participant.group_hug_id].append(participant)
    views = [
        {
            "id": group.id,
            "name": group.name,
            "description": group.description,
            "message": group.message,
            "creator_id": group.creator_id,
            "participants": [{"user_id": p.user_id, "joined_at": p.joined_at} for p in participants[group.id]],
            "status": effective_status(group),
            "expires_at": group.expires_at,
            "completed_at": group.completed_at,
            "created_at": group.created_at,
        }
        for group in groups
    ]
    return schemas.GroupHug(many=True).dump(views)


def export_account(user_id: str) -> dict[str, Any]:
    """The hugs the user sent and received (messages included); the hug requests they made, and
    those addressed to them or that they answered; the group hugs they created or are invited to.

    Nothing else of anyone else's: not community requests of others the user did not answer, nor
    others' hugs, requests or group hugs. Oldest first, one query per list (two for group hugs).
    """
    owner = uuid.UUID(user_id)
    hugs = schemas.Hug(many=True)
    requests = schemas.HugRequest(many=True)

    def hugs_where(condition: Any) -> list[dict[str, Any]]:
        return hugs.dump(db.session.execute(select(Hug).where(condition).order_by(Hug.created_at, Hug.id)).scalars())

    def requests_where(condition: Any) -> list[dict[str, Any]]:
        query = select(HugRequest).where(condition).order_by(HugRequest.created_at, HugRequest.id)
        return requests.dump(db.session.execute(query).scalars())

    return {
        "hugs_sent": hugs_where(Hug.sender_id == owner),
        "hugs_received": hugs_where(Hug.recipient_id == owner),
        "hug_requests_made": requests_where(HugRequest.requester_id == owner),
        # Addressed to the user (answered or not), or a community request they answered.
        "hug_requests_received": requests_where(
            or_(HugRequest.recipient_id == owner, HugRequest.responder_id == owner)
        ),
        "group_hugs": _group_hugs(owner),
    }
