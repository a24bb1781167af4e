"""hug: dead letters of this service's event consumers

Revision ID: hug_0002
Revises: hug_0001
Create Date: 2026-11-22
"""

from shared.migrate import dead_letter_table

revision = "hug_0002"
down_revision = "hug_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dead_letter_table.create()


def downgrade() -> None:
    dead_letter_table.drop()
