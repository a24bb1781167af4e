"""user: tombstones of deleted accounts, and guards that refuse rows naming one

Revision ID: user_0005
Revises: user_0004
Create Date: 2026-11-22
"""

from alembic import op

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "user_0005"
down_revision = "user_0004"
branch_labels = None
depends_on = None

HOLDINGS = [
    Holding("profiles", columns=("user_id",)),
    Holding("privacy_settings", columns=("user_id",)),
    Holding("friendships", columns=("user_id", "friend_id")),
    Holding("friend_requests", columns=("requester_id", "addressee_id")),
    Holding("blocks", columns=("blocker_id", "blocked_id")),
]


def upgrade() -> None:
    for statement in guard_statements("users", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("users", HOLDINGS):
        op.execute(statement)
