"""hug: hugs, hug requests, group hugs and their participants

Revision ID: hug_0003
Revises: hug_0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "hug_0003"
down_revision = "hug_0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "group_hugs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("creator_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("completed_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('active', 'completed', 'expired')", name="group_hug_status"),
        sa.CheckConstraint("char_length(description) <= 500", name="description_length"),
        sa.CheckConstraint("char_length(message) <= 500", name="message_length"),
    )
    op.create_index("ix_group_hugs_creator", "group_hugs", ["creator_id", "created_at"])
    op.create_index(
        "ix_group_hugs_active_expiry", "group_hugs", ["expires_at"], postgresql_where=sa.text("status = 'active'")
    )
    op.create_table(
        "group_hug_participants",
        sa.Column("group_hug_id", sa.Uuid, sa.ForeignKey("group_hugs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("position", sa.SmallInteger, nullable=False),
        sa.Column("joined_at", TS),
    )
    op.create_index("ix_group_hug_participants_user", "group_hug_participants", ["user_id"])
    op.create_table(
        "hug_requests",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("requester_id", sa.Uuid, nullable=False),
        sa.Column("recipient_id", sa.Uuid),
        sa.Column("message", sa.Text),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("responder_id", sa.Uuid),
        sa.Column("hug_id", sa.Uuid),
        sa.Column("answered_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'declined')", name="hug_request_status"),
        sa.CheckConstraint("recipient_id IS NULL OR recipient_id <> requester_id", name="not_self"),
        sa.CheckConstraint("char_length(message) <= 500", name="message_length"),
    )
    op.create_index("ix_hug_requests_requester", "hug_requests", ["requester_id", "created_at", "id"])
    op.create_index("ix_hug_requests_recipient", "hug_requests", ["recipient_id", "created_at", "id"])
    op.create_index(
        "ix_hug_requests_community_pending",
        "hug_requests",
        ["created_at", "id"],
        postgresql_where=sa.text("recipient_id IS NULL AND status = 'pending'"),
    )
    op.create_table(
        "hugs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("sender_id", sa.Uuid, nullable=False),
        sa.Column("recipient_id", sa.Uuid, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("is_read", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("read_at", TS),
        sa.Column("hug_request_id", sa.Uuid, sa.ForeignKey("hug_requests.id", ondelete="SET NULL")),
        sa.Column("group_hug_id", sa.Uuid, sa.ForeignKey("group_hugs.id", ondelete="SET NULL")),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("sender_id <> recipient_id", name="not_self"),
        sa.CheckConstraint("char_length(message) <= 500", name="message_length"),
    )
    op.create_index("ix_hugs_pair_created", "hugs", ["sender_id", "recipient_id", "created_at"])
    op.create_index("ix_hugs_sender_created", "hugs", ["sender_id", "created_at", "id"])
    op.create_index("ix_hugs_recipient_created", "hugs", ["recipient_id", "created_at", "id"])
    op.create_index(
        "ix_hugs_recipient_unread",
        "hugs",
        ["recipient_id", "created_at", "id"],
        postgresql_where=sa.text("NOT is_read"),
    )


def downgrade() -> None:
    for table in ("hugs", "hug_requests", "group_hug_participants", "group_hugs"):
        op.drop_table(table)
