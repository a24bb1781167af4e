"""notification: tombstones of deleted accounts, and guards that refuse rows naming one

Revision ID: notification_0005
Revises: notification_0004
Create Date: 2026-11-22
"""

from alembic import op

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "notification_0005"
down_revision = "notification_0004"
branch_labels = None
depends_on = None

HOLDINGS = [
    Holding("notifications", columns=("user_id",), documents=("data",)),
    Holding("notification_counters", columns=("user_id",)),
    Holding("preferences", columns=("user_id",)),
    Holding("devices", columns=("user_id",)),
    Holding("deliveries", columns=("user_id",), documents=("payload",)),
]


def upgrade() -> None:
    for statement in guard_statements("notifications", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("notifications", HOLDINGS):
        op.execute(statement)
