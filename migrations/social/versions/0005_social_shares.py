"""social: shares, public read-only links to a mood, a hug or an achievement

Revision ID: social_0005
Revises: social_0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "social_0005"
down_revision = "social_0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("content_id", sa.Uuid, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", TS),
        sa.CheckConstraint("content_type IN ('mood', 'hug', 'achievement')", name="shares_content_type"),
        sa.CheckConstraint("platform ~ '^[a-z0-9_-]{1,32}$'", name="shares_platform"),
    )
    op.create_index(
        "ux_shares_live",
        "shares",
        ["owner_id", "content_type", "content_id", "platform"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("shares")
