"""mood: hug days (learnt from HugSent) and stored insights, both guarded against erased users

Revision ID: mood_0007
Revises: mood_0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "mood_0007"
down_revision = "mood_0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

HOLDINGS = [
    Holding("hug_days", columns=("user_id",)),
    Holding("user_insights", columns=("user_id",)),
]


def upgrade() -> None:
    op.create_table(
        "hug_days",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("hug_id", sa.Uuid, primary_key=True),
        sa.Column("direction", sa.String(8), primary_key=True),
        sa.Column("occurred_at", TS, nullable=False),
        sa.CheckConstraint("direction IN ('sent', 'received')", name="hug_direction"),
    )
    op.create_index(
        "ix_hug_days_user_occurred", "hug_days", ["user_id", "occurred_at"], postgresql_include=["direction"]
    )
    op.create_table(
        "user_insights",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("finding", sa.String(120), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("relevance", sa.Float, nullable=False),
        sa.Column("data", postgresql.JSONB, nullable=False),
        sa.Column("is_read", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TS, nullable=False),
        sa.CheckConstraint(
            "type IN ('mood_pattern', 'trigger', 'improvement', 'hug_effect', 'streak')", name="insight_type"
        ),
        sa.CheckConstraint("relevance BETWEEN 0 AND 1", name="insight_relevance"),
    )
    op.create_index("ix_user_insights_user_created", "user_insights", ["user_id", "created_at", "id"])
    for statement in guard_statements("moods", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("moods", HOLDINGS):
        op.execute(statement)
    op.drop_table("user_insights")
    op.drop_table("hug_days")
