"""social: activities, the local copy of the friend graph, blocks and pending requests

Revision ID: social_0004
Revises: social_0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "social_0004"
down_revision = "social_0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _pair(name: str, left: str, right: str) -> None:
    op.create_table(
        name,
        sa.Column(left, sa.Uuid, primary_key=True),
        sa.Column(right, sa.Uuid, primary_key=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"{left} <> {right}", name=f"{name}_not_self"),
    )
    # The primary key serves lookups from the left; this one serves them from the right.
    op.create_index(f"ix_{name}_{right}", name, [right, left])


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("object_id", sa.Uuid),
        sa.Column("data", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("source_event_id", sa.Uuid, unique=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("visibility IN ('public', 'friends', 'private')", name="visibility_known"),
    )
    # Own and friends' activities: one range per author, newest first.
    op.create_index("ix_activities_user_created", "activities", ["user_id", "created_at", "id"])
    # Strangers' public activities: one range over the public ones only.
    op.create_index(
        "ix_activities_public_created",
        "activities",
        ["created_at", "id"],
        postgresql_where=sa.text("visibility = 'public'"),
    )
    # Activities derived from a mood are found again by the mood's id (update, delete, privacy).
    op.create_index(
        "ix_activities_mood_object",
        "activities",
        ["user_id", "object_id"],
        postgresql_where=sa.text("type = 'mood_shared'"),
    )
    _pair("friendships", "user_id", "friend_id")
    _pair("blocks", "blocker_id", "blocked_id")
    _pair("friend_requests", "requester_id", "addressee_id")
    op.create_table(
        "relation_clocks",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("a", sa.Uuid, primary_key=True),
        sa.Column("b", sa.Uuid, primary_key=True),
        sa.Column("changed_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("relation_clocks")
    op.drop_table("friend_requests")
    op.drop_table("blocks")
    op.drop_table("friendships")
    op.drop_table("activities")
