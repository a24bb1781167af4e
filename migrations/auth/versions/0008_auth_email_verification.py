"""auth: email verification (a verified-at mark per account, single-use verification tokens)

Revision ID: auth_0008
Revises: auth_0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from shared.datarights import Holding, guard_statements

revision = "auth_0008"
down_revision = "auth_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True)))
    op.create_table(
        "email_verification_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_email_verification_tokens_user_id", "email_verification_tokens", ["user_id", "created_at"])
    # A token must not be written for an account that is being erased.
    for statement in guard_statements("auth", [Holding("email_verification_tokens", columns=("user_id",))]):
        op.execute(statement)


def downgrade() -> None:
    # The table's guard trigger goes with it; the guard function stays for the other tables.
    op.drop_table("email_verification_tokens")
    op.drop_column("users", "email_verified_at")
