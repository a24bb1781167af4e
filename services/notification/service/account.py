"""The caller's section of their data export: what the notification service keeps about them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.notification import schemas
from services.notification.models import Delivery, Device, Notification, db
from services.notification.service import preferences

_notifications = schemas.Notification(many=True)
_devices = schemas.Device(many=True)
_deliveries = schemas.DeliverySummary(many=True)


def export_account(user_id: str) -> dict[str, Any]:
    """The user's notifications (read or not, oldest first), their effective preferences, their
    devices with their push tokens, and a summary of each push and email sent or due to them.

    Only the user's own rows: never a notification in someone else's inbox, even one about the
    user. One query per list.
    """
    owner = uuid.UUID(user_id)
    notifications = db.session.execute(
        select(Notification).where(Notification.user_id == owner).order_by(Notification.seq)
    ).scalars()
    devices = db.session.execute(
        select(Device).where(Device.user_id == owner).order_by(Device.created_at, Device.id)
    ).scalars()
    deliveries = db.session.execute(
        select(Delivery).where(Delivery.user_id == owner).order_by(Delivery.created_at, Delivery.id)
    ).scalars()
    return {
        "notifications": _notifications.dump(notifications),
        "preferences": preferences.get(owner),
        "devices": _devices.dump(devices),
        "deliveries": _deliveries.dump(deliveries),
    }
