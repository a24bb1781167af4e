"""social: the delivery ledger of this service's outbox

Revision ID: social_0003
Revises: social_0002
Create Date: 2026-11-22
"""

from shared.migrate import outbox_deliveries_table

revision = "social_0003"
down_revision = "social_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_deliveries_table.create()


def downgrade() -> None:
    outbox_deliveries_table.drop()
