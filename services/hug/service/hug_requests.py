"""Hug requests: ask one person (directed) or anyone (community) for a hug; answer; list."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, or_, select, update

from services.hug import errors
from services.hug.models import HugRequest, OutboxEvent, db
from services.hug.service import flood
from services.hug.service.audience import blocked
from services.hug.service.catalogue import DEFAULT_TYPE
from services.hug.service.hugs import insert_hug
from shared.audience import AudienceSource
from shared.clock import utcnow
from shared.events import publish
from shared.pagination import paginate


def create(
    *,
    requester_id: uuid.UUID,
    data: dict[str, Any],
    audience: AudienceSource,
    flood_limit: int,
    flood_window_seconds: int,
) -> HugRequest:
    """Ask for a hug: directed (404 unknown, 403 if either blocked the other) or, without a recipient,
    a community request any other signed-in user may answer; 429 past the per-pair flood limit."""
    recipient_id: uuid.UUID | None = data.get("recipient_id")
    if recipient_id is not None:
        if recipient_id == requester_id:
            raise errors.HugToSelf(
                "You cannot ask yourself for a hug.", errors={"recipient_id": ["Must not be yourself."]}
            )
        if audience.get(recipient_id, requester_id, refuses=blocked)["blocked"]:
            raise errors.HugsNotAccepted("You cannot ask this person for a hug.")
    flood.check_hug_request(requester_id, recipient_id, limit=flood_limit, window_seconds=flood_window_seconds)
    request = HugRequest(
        id=uuid.uuid4(),
        requester_id=requester_id,
        recipient_id=recipient_id,
        message=data.get("message"),
        status="pending",
        created_at=utcnow(),
    )
    db.session.add(request)
    db.session.flush()
    publish(
        db.session,
        OutboxEvent,
        "HugRequested",
        {
            "hug_request_id": str(request.id),
            "requester_id": str(requester_id),
            "recipient_id": str(recipient_id) if recipient_id else None,
            "message": request.message,
        },
    )
    db.session.commit()
    return request


def listing(
    *, user_id: uuid.UUID, args: dict[str, Any], audience: AudienceSource
) -> tuple[list[HugRequest], str | None]:
    """Requests newest first, optionally of one status.

    outgoing: the caller's own requests. incoming: requests directed to the caller, plus community
    requests of others that are still open (pending) or that the caller answered. Open community
    requests of someone who blocked the caller, or whom the caller blocked, are left out (a page may
    then hold fewer than `limit` items; the cursor still continues after the last row read).
    """
    if args["direction"] == "outgoing":
        query = select(HugRequest).where(HugRequest.requester_id == user_id)
    else:
        community = and_(
            HugRequest.recipient_id.is_(None),
            HugRequest.requester_id != user_id,
            or_(HugRequest.status == "pending", HugRequest.responder_id == user_id),
        )
        query = select(HugRequest).where(or_(HugRequest.recipient_id == user_id, community))
    if args.get("status"):
        query = query.where(HugRequest.status == args["status"])
    items, cursor = paginate(db.session, query, time_column=HugRequest.created_at, id_column=HugRequest.id, page=args)
    if args["direction"] == "incoming":
        items = [r for r in items if not _hidden_community(r, user_id, audience)]
    return items, cursor


def _hidden_community(request: HugRequest, viewer_id: uuid.UUID, audience: AudienceSource) -> bool:
    if request.recipient_id is not None or request.responder_id == viewer_id:
        return False
    settings = audience.lookup(request.requester_id, viewer_id, refuses=blocked)
    return settings is None or bool(settings["blocked"])


def read(*, request_id: uuid.UUID, viewer_id: uuid.UUID) -> HugRequest:
    """A request as an answerer may see it: directed ones only by their two parties (else 404)."""
    request = db.session.get(HugRequest, request_id)
    parties = (request.requester_id, request.recipient_id) if request else ()
    if request is None or (request.recipient_id is not None and viewer_id not in parties):
        raise errors.HugRequestNotFound("No such hug request.")
    return request


def answer(
    *, request_id: uuid.UUID, responder_id: uuid.UUID, data: dict[str, Any], audience: AudienceSource
) -> HugRequest:
    """Accept or decline a pending request, once; accepting sends the requester a hug in the same
    transaction.

    Directed: only the recipient answers (the requester gets 403, anyone else 404). Community: any
    signed-in user but the requester, and only "accepted" (a decline would close it for everyone).
    The status moves with UPDATE ... WHERE status = 'pending', so of two concurrent answers one
    wins and the other gets 409. Accepting is refused (403) if either of the two blocked the other.
    """
    request = read(request_id=request_id, viewer_id=responder_id)
    if request.requester_id == responder_id:
        raise errors.OwnRequest("You cannot answer your own hug request.")
    status: str = data["status"]
    if request.recipient_id is None and status != "accepted":
        raise errors.CommunityDecline(
            "A community request can only be accepted.",
            errors={"status": ["A community request can only be accepted."]},
        )
    if request.status != "pending":
        raise errors.RequestAlreadyAnswered(f"This hug request was already {request.status}.")
    if status == "accepted":
        settings = audience.lookup(request.requester_id, responder_id, refuses=blocked)
        if settings is None:
            raise errors.HugRequestNotFound("No such hug request.")
        if settings["blocked"]:
            raise errors.HugsNotAccepted("You cannot send this person a hug.")
    hug_id = uuid.uuid4() if status == "accepted" else None
    won = db.session.execute(
        update(HugRequest)
        .where(HugRequest.id == request_id, HugRequest.status == "pending")
        .values(status=status, responder_id=responder_id, hug_id=hug_id, answered_at=utcnow())
        .returning(HugRequest.id)
        .execution_options(synchronize_session=False)
    ).first()
    if won is None:
        db.session.rollback()
        raise errors.RequestAlreadyAnswered("This hug request was already answered.")
    if hug_id is not None:
        insert_hug(
            hug_id=hug_id,
            sender_id=responder_id,
            recipient_id=request.requester_id,
            hug_type=data.get("type") or DEFAULT_TYPE,
            message=data.get("message"),
            hug_request_id=request.id,
        )
    publish(
        db.session,
        OutboxEvent,
        "HugRequestAnswered",
        {
            "hug_request_id": str(request.id),
            "requester_id": str(request.requester_id),
            "responder_id": str(responder_id),
            "status": status,
            "hug_id": str(hug_id) if hug_id else None,
        },
    )
    db.session.commit()
    db.session.refresh(request)
    return request
