"""notification: the delivery ledger of this service's outbox

Revision ID: notification_0004
Revises: notification_0003
Create Date: 2026-11-22
"""

from shared.migrate import outbox_deliveries_table

revision = "notification_0004"
down_revision = "notification_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_deliveries_table.create()


def downgrade() -> None:
    outbox_deliveries_table.drop()
