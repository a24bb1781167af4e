"""Push devices: register (idempotent per token), list and remove the caller's own."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from services.notification import errors
from services.notification.models import Device, db


def register(*, user_id: uuid.UUID, data: dict[str, Any]) -> tuple[Device, bool]:
    """Register a token for the caller; return the device and whether it is new to the caller.

    The token is unique: registering it again is idempotent (and reactivates it), and a token
    last registered by someone else moves to the caller (the phone changed hands), so pushes for
    the previous owner stop going to it.
    """
    row = db.session.execute(
        text(
            "WITH previous AS (SELECT user_id FROM devices WHERE device_token = :token) "
            "INSERT INTO devices (id, user_id, device_token, device_type, is_active) "
            "VALUES (:id, :user, :token, :type, true) "
            "ON CONFLICT (device_token) DO UPDATE SET user_id = excluded.user_id, "
            "device_type = excluded.device_type, is_active = true, updated_at = now() "
            "RETURNING id, (SELECT user_id FROM previous) AS previous_user"
        ),
        {"id": uuid.uuid4(), "user": user_id, "token": data["device_token"], "type": data["device_type"]},
    ).one()
    db.session.commit()
    device = db.session.get(Device, row.id, populate_existing=True)
    return device, row.previous_user != user_id


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
