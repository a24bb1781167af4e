"""auth: tombstones of deleted accounts, and guards that refuse rows naming one

Revision ID: auth_0005
Revises: auth_0004
Create Date: 2026-11-22
"""

from alembic import op

from shared.datarights import Holding, guard_statements, unguard_statements

revision = "auth_0005"
down_revision = "auth_0004"
branch_labels = None
depends_on = None

HOLDINGS = [
    Holding("users", columns=("id",)),
    Holding("oidc_identities", columns=("user_id",)),
    Holding("token_families", columns=("user_id",)),
    Holding("password_reset_tokens", columns=("user_id",)),
]


def upgrade() -> None:
    for statement in guard_statements("auth", HOLDINGS):
        op.execute(statement)


def downgrade() -> None:
    for statement in unguard_statements("auth", HOLDINGS):
        op.execute(statement)
