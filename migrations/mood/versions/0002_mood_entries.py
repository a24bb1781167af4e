"""mood: entries with the per-user time index, streak milestones

Revision ID: mood_0002
Revises: mood_0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "mood_0002"
down_revision = "mood_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mood_entries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("mood", sa.String(50), nullable=False),
        sa.Column("intensity", sa.Float, nullable=False),
        sa.Column("valence", sa.Float),
        sa.Column("arousal", sa.Float),
        sa.Column("note", sa.Text),
        sa.Column("tags", postgresql.ARRAY(sa.String(50)), nullable=False, server_default="{}"),
        sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("intensity BETWEEN 0 AND 1", name="intensity_range"),
        sa.CheckConstraint("valence IS NULL OR valence BETWEEN 0 AND 1", name="valence_range"),
        sa.CheckConstraint("arousal IS NULL OR arousal BETWEEN 0 AND 1", name="arousal_range"),
        sa.CheckConstraint("char_length(note) <= 2000", name="note_length"),
        sa.CheckConstraint("cardinality(tags) <= 10", name="tag_count"),
    )
    op.create_index(
        "ix_mood_entries_user_recorded",
        "mood_entries",
        ["user_id", "recorded_at", "id"],
        postgresql_include=["mood", "intensity", "valence", "is_public", "tags"],
    )
    op.create_table(
        "streak_milestones",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("days", sa.Integer, primary_key=True),
        sa.Column("streak_start", sa.Date, primary_key=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("streak_milestones")
    op.drop_table("mood_entries")
