"""social: dead letters of this service's event consumers

Revision ID: social_0002
Revises: social_0001
Create Date: 2026-11-22
"""

from shared.migrate import dead_letter_table

revision = "social_0002"
down_revision = "social_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dead_letter_table.create()


def downgrade() -> None:
    dead_letter_table.drop()
