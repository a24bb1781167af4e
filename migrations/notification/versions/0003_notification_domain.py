"""notification: notifications with per-user sequence, preferences, devices, deliveries

Revision ID: notification_0003
Revises: notification_0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "notification_0003"
down_revision = "notification_0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("data", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("is_read", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("read_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("user_id", "seq", name="uq_notifications_user_seq"),
    )
    op.create_index(
        "ix_notifications_unread", "notifications", ["user_id", "seq"], postgresql_where=sa.text("NOT is_read")
    )
    op.create_table(
        "notification_counters",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("types", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("quiet_hours", postgresql.JSONB),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("device_token", sa.String(4096), nullable=False),
        sa.Column("device_type", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("device_token", name="uq_devices_device_token"),
        sa.CheckConstraint("device_type IN ('ios', 'android', 'web')", name="device_type"),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "notification_id",
            sa.Uuid,
            sa.ForeignKey("notifications.id", ondelete="SET NULL", name="fk_deliveries_notification_id_notifications"),
        ),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column(
            "device_id",
            sa.Uuid,
            sa.ForeignKey("devices.id", ondelete="SET NULL", name="fk_deliveries_device_id_devices"),
        ),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("status", sa.String(8), nullable=False, server_default="pending"),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("enqueued_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("channel IN ('push', 'email')", name="channel"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
    )
    op.create_index("ix_deliveries_user_id", "deliveries", ["user_id"])
    op.create_index(
        "ix_deliveries_pending_due", "deliveries", ["due_at"], postgresql_where=sa.text("status = 'pending'")
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("devices")
    op.drop_table("preferences")
    op.drop_table("notification_counters")
    op.drop_table("notifications")
