"""auth: revocations kept in PostgreSQL until they expire, to reload a Redis that lost them

Revision ID: auth_0006
Revises: auth_0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "auth_0006"
down_revision = "auth_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_revocations_expires_at", "revocations", ["expires_at"])


def downgrade() -> None:
    op.drop_table("revocations")
