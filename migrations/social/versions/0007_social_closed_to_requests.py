"""social: the local copy of who takes no friend requests, for recommendations

Revision ID: social_0007
Revises: social_0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "social_0007"
down_revision = "social_0006"
branch_labels = None
depends_on = None

HOLDINGS = [Holding("closed_to_requests", columns=("user_id",))]


def upgrade() -> None:
    op.create_table(
        "closed_to_requests",
        sa.Column("user_id", sa.Uuid, primary_key=True),
    )
    for statement in guard_statements("social", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("social", HOLDINGS):
        op.execute(statement)
    op.drop_table("closed_to_requests")
