"""The transactional outbox a publishing service writes to, and the consumers' processed-event ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column


class OutboxMixin:
    """The outbox table every publishing service has in its own schema."""

    __tablename__ = "outbox"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index("ix_outbox_pending", "created_at", postgresql_where=text("published_at IS NULL")),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ProcessedEventMixin:
    """Event ids a consumer has acted on; the primary key makes redelivery a no-op."""

    __tablename__ = "processed_events"

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


# The relay LISTENs here; PostgreSQL delivers a NOTIFY only when its transaction commits, so the
# relay wakes as soon as a row is visible instead of on its next idle pass.
RELAY_CHANNEL = "hugmood_outbox"
# Event data keys that carry a secret. Consumers receive them; the stored outbox row is blanked of
# them as soon as the event is published, so the database keeps no usable secret.
SECRET_DATA_KEYS = ("token",)
# Events deleted from the outbox as soon as every consumer has finished with them: an account's
# deletion must not leave its own record behind (the erasure report counts it until then).
FORGET_WHEN_DELIVERED = ("UserDeleted",)


def scrubbed_payload() -> str:
    """SQL for the stored payload without its secret data keys."""
    expression = "payload"
    for key in SECRET_DATA_KEYS:
        expression = f"({expression} #- '{{data,{key}}}')"
    return expression


def publish(session: Session, model: type, event_type: str, data: dict[str, Any]) -> uuid.UUID:
    """Add an event to the outbox in the caller's transaction; it leaves only if that commits."""
    event_id = uuid.uuid4()
    session.execute(
        text("SELECT pg_notify(:channel, :schema)"), {"channel": RELAY_CHANNEL, "schema": model.__table__.schema or ""}
    )
    session.add(
        model(
            id=event_id,
            event_type=event_type,
            payload={
                "id": str(event_id),
                "type": event_type,
                "occurred_at": datetime.now(UTC).isoformat(),
                "data": data,
            },
        )
    )
    return event_id


def claim_once(session: Session, model: type, event_id: str, consumer: str) -> bool:
    """Record that `consumer` handles `event_id`; False if it already did (same transaction)."""
    table = model.__table__
    result = session.execute(
        insert(table)
        .values(event_id=uuid.UUID(event_id), consumer=consumer)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return result.first() is not None
