"""hug: tombstones of deleted accounts, and guards that refuse rows naming one

Revision ID: hug_0005
Revises: hug_0004
Create Date: 2026-11-22
"""

from alembic import op

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "hug_0005"
down_revision = "hug_0004"
branch_labels = None
depends_on = None

HOLDINGS = [
    Holding("hugs", columns=("sender_id", "recipient_id")),
    Holding("hug_requests", columns=("requester_id", "recipient_id", "responder_id")),
    Holding("group_hugs", columns=("creator_id",)),
    Holding("group_hug_participants", columns=("user_id",)),
]


def upgrade() -> None:
    for statement in guard_statements("hugs", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("hugs", HOLDINGS):
        op.execute(statement)
