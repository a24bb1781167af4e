"""user: dead letters of this service's event consumers

Revision ID: user_0003
Revises: user_0002
Create Date: 2026-11-22
"""

from shared.migrate import dead_letter_table

revision = "user_0003"
down_revision = "user_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dead_letter_table.create()


def downgrade() -> None:
    dead_letter_table.drop()
