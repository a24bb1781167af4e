"""mood: role, schema and event plumbing tables

Revision ID: mood_0001
Revises:
Create Date: 2026-11-21
"""

from shared.migrate import outbox_tables

revision = "mood_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_tables.create()


def downgrade() -> None:
    outbox_tables.drop()
