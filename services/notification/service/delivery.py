"""Sending the durable push and email deliveries: once each, retried with backoff, then given up."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, text

from services.notification.models import Delivery, Device, db
from services.notification.service.providers import (
    DeliveryFailed,
    Email,
    InvalidToken,
    PermanentFailure,
    Providers,
    PushMessage,
)
from shared.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from shared.http import ServiceClient

log = logging.getLogger("hugmood.notification.delivery")
MAX_ATTEMPTS = 8
# A scheduled send still pending this long after it should have run was lost: the sweep re-enqueues it.
LOST_AFTER = timedelta(seconds=90)


def backoff(attempts: int) -> int:
    """Seconds before the next try after `attempts` failures: 2, 4, 8, … capped at 60."""
    return min(2**attempts, 60)


@dataclass(frozen=True)
class Result:
    status: str  # sent | failed | pending | skipped
    retry_in: int | None = None


# Emails that carry a one-time token for the account's address: the only ones an address nobody
# has verified gets, and whose bodies are dropped once sent.
ACCOUNT_EMAILS = frozenset({"password_reset", "email_verification"})


def _scrub(delivery: Delivery) -> None:
    """Drop a secret-bearing email body once it has left (or never will): keep to and subject."""
    if delivery.channel == "email" and delivery.type in ACCOUNT_EMAILS:
        delivery.payload = {"to": delivery.payload.get("to"), "subject": delivery.payload.get("subject")}


class Addresses:
    """Users' email addresses, asked of the auth service (which owns them) each time an email goes
    out, so the notification service never keeps one."""

    def __init__(self, client: ServiceClient):
        self.client = client

    def get(self, user_id: uuid.UUID) -> tuple[str, bool] | None:
        """The user's address and whether its owner verified it; None if the auth service knows no
        such user (deleted).

        Raises DeliveryFailed when the auth service cannot answer, so the send is retried.
        """
        try:
            contact = self.client.read("auth", f"/internal/v1/auth/users/{user_id}/contact")
        except (ServiceUnavailable, BadGateway, GatewayTimeout) as exc:
            raise DeliveryFailed(f"the auth service could not give the address: {exc.detail}") from exc
        return None if contact is None else (contact["email"], contact.get("verified") is True)


def deliver(
    *, delivery_id: uuid.UUID, providers: Providers, addresses: Addresses, now: datetime | None = None
) -> Result:
    """Send one delivery if it is still pending and due; idempotent, safe to run concurrently.

    A delivery that no longer exists is skipped, not an error: erasing a user deletes their
    deliveries and those about them, which is how their pending pushes and emails are cancelled.
    An email to a user the auth service no longer knows is given up, and so is any email but a
    password reset or an address verification to an address its owner has not verified.
    """
    now = now or datetime.now(UTC)
    delivery = db.session.execute(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if delivery is None or delivery.status != "pending":
        db.session.commit()  # nothing changed: just end the transaction (and its lock)
        return Result("skipped")  # gone, done, or being sent by another worker right now
    if delivery.due_at > now:
        db.session.commit()
        return Result("pending")  # held by quiet hours: the sweep sends it when due
    try:
        _send(delivery, providers, addresses)
    except InvalidToken as exc:
        device = db.session.get(Device, delivery.device_id) if delivery.device_id else None
        if device is not None and device.user_id == delivery.user_id:
            device.is_active = False
        return _finish(delivery, "failed", f"invalid token: {exc}")
    except PermanentFailure as exc:
        return _finish(delivery, "failed", str(exc))
    except DeliveryFailed as exc:
        delivery.attempts += 1
        delivery.last_error = str(exc)[:500]
        if delivery.attempts >= MAX_ATTEMPTS:
            return _finish(delivery, "failed", str(exc))
        wait = backoff(delivery.attempts)
        delivery.due_at = delivery.enqueued_at = now + timedelta(seconds=wait)
        db.session.commit()
        return Result("pending", retry_in=wait)
    except _Skip as exc:
        return _finish(delivery, "failed", str(exc))
    delivery.attempts += 1
    delivery.sent_at = now
    return _finish(delivery, "sent", None)


class _Skip(Exception):
    """Nothing to send to any more (the device was removed, deactivated or changed hands; the user
    is gone), or nothing that may be sent (an unverified address)."""


def _send(delivery: Delivery, providers: Providers, addresses: Addresses) -> None:
    payload = delivery.payload
    if delivery.channel == "email":
        to = payload.get("to") if delivery.type in ACCOUNT_EMAILS else None
        if to is None:
            contact = addresses.get(delivery.user_id)
            if contact is None:
                raise _Skip("the user no longer exists")
            to, verified = contact
            if not verified and delivery.type not in ACCOUNT_EMAILS:
                raise _Skip("the address is not verified")
        providers.email.send(Email(to=to, subject=payload["subject"], body=payload["body"]))
        return
    device = db.session.get(Device, delivery.device_id) if delivery.device_id else None
    if device is None or not device.is_active or device.user_id != delivery.user_id:
        raise _Skip("the device is gone, inactive, or now someone else's")
    providers.push.send(
        PushMessage(
            token=device.device_token,
            device_type=device.device_type,
            title=payload["title"],
            body=payload["body"],
            data=payload.get("data", {}),
        )
    )


def _finish(delivery: Delivery, status: str, error: str | None) -> Result:
    delivery.status = status
    if error is not None:
        delivery.last_error = error[:500]
        log.warning("delivery failed", extra={"delivery_id": str(delivery.id), "channel": delivery.channel})
    _scrub(delivery)
    db.session.commit()
    return Result(status)


def due_for_sending(*, now: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Claim pending deliveries that are due and not scheduled recently; the caller enqueues them.

    Catches a lost enqueue (a crash between commit and enqueue, a broker hiccup), a lost retry,
    and pushes held by quiet hours, which are never enqueued until they are due.
    """
    now = now or datetime.now(UTC)
    rows = (
        db.session.execute(
            select(Delivery)
            .where(
                Delivery.status == "pending",
                Delivery.due_at <= now,
                or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < now - LOST_AFTER),
            )
            .order_by(Delivery.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for row in rows:
        row.enqueued_at = now
    ids = [row.id for row in rows]
    db.session.commit()
    return ids


# One batch of finished deliveries created before the cutoff (ix_deliveries_finished finds them).
_PRUNE_BATCH = text(
    "DELETE FROM deliveries WHERE id IN ("
    " SELECT id FROM deliveries WHERE status <> 'pending' AND created_at < :cutoff LIMIT :n)"
)


def prune_finished(
    *, retention: timedelta, now: datetime | None = None, batch: int = 500, max_batches: int = 20
) -> int:
    """Delete deliveries that were sent or given up and were created more than `retention` ago;
    return how many went.

    Each batch is its own short transaction, and one call deletes at most `max_batches` of them,
    so a large backlog is worked off over several sweeps without holding locks long. Pending
    deliveries are never deleted, however old.
    """
    cutoff = (now or datetime.now(UTC)) - retention
    deleted = 0
    for _ in range(max_batches):
        count = db.session.execute(_PRUNE_BATCH, {"cutoff": cutoff, "n": batch}).rowcount
        db.session.commit()
        deleted += count
        if count < batch:
            break
    return deleted
