"""The delivery sweep deletes sent and given-up deliveries past their retention, never pending ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.notification import create_app, tasks
from services.notification.models import Delivery, db
from services.notification.service import delivery
from shared.config import ConfigError

NOW = datetime.now(UTC)


def add(user_id: uuid.UUID, status: str, age_days: float, *, due_in_days: float = 0) -> uuid.UUID:
    """A delivery created `age_days` ago with this status."""
    created = NOW - timedelta(days=age_days)
    row = Delivery(
        id=uuid.uuid4(),
        user_id=user_id,
        channel="push",
        type="hug_received",
        payload={"title": "t", "body": "b"},
        status=status,
        due_at=NOW + timedelta(days=due_in_days) if status == "pending" else created,
        enqueued_at=None if status == "pending" else created,
        attempts=0 if status == "pending" else 1,
        sent_at=created if status == "sent" else None,
        created_at=created,
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def remaining(user_id: uuid.UUID) -> set[uuid.UUID]:
    return set(db.session.execute(select(Delivery.id).where(Delivery.user_id == user_id)).scalars())


def test_the_sweep_deletes_old_finished_deliveries_and_keeps_recent_and_pending_ones(client, enqueued):
    user = uuid.uuid4()
    old_sent, old_failed = add(user, "sent", 31), add(user, "failed", 400)
    recent = {add(user, "sent", 29), add(user, "failed", 1), add(user, "sent", 0)}
    held = add(user, "pending", 90, due_in_days=1)  # pending however old: never pruned
    due = add(user, "pending", 60)  # due and never enqueued: the sweep sends it
    assert tasks.sweep_deliveries.run() == 1 and enqueued == [due]
    db.session.expire_all()
    assert remaining(user) == recent | {held, due}
    assert old_sent not in remaining(user) and old_failed not in remaining(user)


def test_pruning_goes_in_bounded_batches_each_committed(client):
    user = uuid.uuid4()
    old = {add(user, status, 40 + n) for n, status in enumerate(["sent", "failed"] * 4)}
    kept = add(user, "pending", 40)
    prune = {"retention": timedelta(days=30), "batch": 3, "max_batches": 2}
    assert delivery.prune_finished(**prune) == 6  # two full batches, then this sweep stops
    assert len(remaining(user) & old) == 2
    assert delivery.prune_finished(**prune) == 2  # a short batch: nothing more is waiting
    assert remaining(user) == {kept}
    assert delivery.prune_finished(**prune) == 0


def test_a_shorter_retention_prunes_sooner(client):
    user = uuid.uuid4()
    old, young = add(user, "sent", 3), add(user, "sent", 1)
    assert delivery.prune_finished(retention=timedelta(days=2)) >= 1
    assert remaining(user) == {young} and old not in remaining(user)


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_the_retention_setting_is_validated_at_start_up(notification_config, value):
    with pytest.raises(ConfigError) as caught:
        create_app({**notification_config, "NOTIFICATION_DELIVERY_RETENTION_DAYS": value})
    assert "NOTIFICATION_DELIVERY_RETENTION_DAYS" in str(caught.value)


def test_the_retention_defaults_to_30_days(notification_app):
    assert notification_app.config["HUGMOOD"].NOTIFICATION_DELIVERY_RETENTION_DAYS == 30
