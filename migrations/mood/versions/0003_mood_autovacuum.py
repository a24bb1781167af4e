"""mood: vacuum after inserts sooner, so recent entries stay readable from the index alone

Revision ID: mood_0003
Revises: mood_0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "mood_0003"
down_revision = "mood_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Analytics and streaks are index-only scans; the visibility map of freshly inserted pages is
    # only set by vacuum, which by default waits for inserts of 20% of the table.
    op.execute(
        "ALTER TABLE mood_entries SET (autovacuum_vacuum_insert_scale_factor = 0.005, "
        "autovacuum_vacuum_insert_threshold = 10000)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE mood_entries RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold)"
    )
