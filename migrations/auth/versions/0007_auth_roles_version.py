"""auth: a roles version per user, which access tokens carry and role changes revoke below

Revision ID: auth_0007
Revises: auth_0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "auth_0007"
down_revision = "auth_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("roles_version", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("users", "roles_version")
