"""hug: the delivery ledger of this service's outbox

Revision ID: hug_0004
Revises: hug_0003
Create Date: 2026-11-22
"""

from shared.migrate import outbox_deliveries_table

revision = "hug_0004"
down_revision = "hug_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_deliveries_table.create()


def downgrade() -> None:
    outbox_deliveries_table.drop()
