"""notification: an index of finished deliveries by age, for the sweep that prunes them

Revision ID: notification_0006
Revises: notification_0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "notification_0006"
down_revision = "notification_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_finished", "deliveries", ["created_at"], postgresql_where=sa.text("status <> 'pending'")
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_finished", table_name="deliveries")
