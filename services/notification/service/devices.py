"""Push devices: register (idempotent per token), list and remove the caller's own."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from services.notification import errors
from services.notification.models import Device, db


def register(*, user_id: uuid.UUID, data: dict[str, Any]) -> tuple[Device, bool]:
    """Register a token for the caller; return the device and whether it is new.

    The token is unique: registering it again is idempotent (and reactivates it). A token that is
    another account's is refused (409), never moved: whoever learnt someone's token could otherwise
    take over their pushes, or aim their own at that phone. A phone that changes hands is freed by
    its previous account removing the device (as signing out does), or by erasing that account.
    """
    row = db.session.execute(
        text(
            "INSERT INTO devices (id, user_id, device_token, device_type, is_active) "
            "VALUES (:id, :user, :token, :type, true) "
            "ON CONFLICT (device_token) DO UPDATE SET device_type = excluded.device_type, "
            "is_active = true, updated_at = now() WHERE devices.user_id = excluded.user_id "
            "RETURNING id, (xmax = 0) AS inserted"
        ),
        {"id": uuid.uuid4(), "user": user_id, "token": data["device_token"], "type": data["device_type"]},
    ).one_or_none()
    if row is None:
        db.session.rollback()
        raise errors.DeviceTokenTaken(
            "This device token is registered to another account; that account must remove it first."
        )
    db.session.commit()
    device = db.session.get(Device, row.id, populate_existing=True)
    return device, bool(row.inserted)


def listing(*, user_id: uuid.UUID) -> list[Device]:
    """The caller's devices, newest first."""
    query = select(Device).where(Device.user_id == user_id).order_by(Device.created_at.desc(), Device.id)
    return list(db.session.execute(query).scalars())


def remove(*, device_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Delete one of the caller's devices; 404 for anyone else's."""
    device = db.session.get(Device, device_id)
    if device is None or device.user_id != user_id:
        raise errors.DeviceNotFound("No such device.")
    db.session.delete(device)
    db.session.commit()
