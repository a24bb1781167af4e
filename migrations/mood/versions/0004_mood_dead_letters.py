"""mood: dead letters of this service's event consumers

Revision ID: mood_0004
Revises: mood_0003
Create Date: 2026-11-22
"""

from shared.migrate import dead_letter_table

revision = "mood_0004"
down_revision = "mood_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dead_letter_table.create()


def downgrade() -> None:
    dead_letter_table.drop()
