"""social: tombstones of deleted accounts, and guards that refuse rows naming one

Revision ID: social_0006
Revises: social_0005
Create Date: 2026-11-22
"""

from alembic import op

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "social_0006"
down_revision = "social_0005"
branch_labels = None
depends_on = None

HOLDINGS = [
    Holding("activities", columns=("user_id", "object_id"), documents=("data",)),
    Holding("friendships", columns=("user_id", "friend_id")),
    Holding("blocks", columns=("blocker_id", "blocked_id")),
    Holding("friend_requests", columns=("requester_id", "addressee_id")),
    Holding("relation_clocks", columns=("a", "b")),
    Holding("shares", columns=("owner_id",)),
]


def upgrade() -> None:
    for statement in guard_statements("social", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("social", HOLDINGS):
        op.execute(statement)
