"""mood: tombstones of deleted accounts, and guards that refuse rows naming one

Revision ID: mood_0006
Revises: mood_0005
Create Date: 2026-11-22
"""

from alembic import op

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "mood_0006"
down_revision = "mood_0005"
branch_labels = None
depends_on = None

HOLDINGS = [
    Holding("mood_entries", columns=("user_id",)),
    Holding("streak_milestones", columns=("user_id",)),
]


def upgrade() -> None:
    for statement in guard_statements("moods", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("moods", HOLDINGS):
        op.execute(statement)
