"""mood: the delivery ledger of this service's outbox

Revision ID: mood_0005
Revises: mood_0004
Create Date: 2026-11-22
"""

from shared.migrate import outbox_deliveries_table

revision = "mood_0005"
down_revision = "mood_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_deliveries_table.create()


def downgrade() -> None:
    outbox_deliveries_table.drop()
