"""user: profiles, privacy settings, friendships, friend requests, blocks

Revision ID: user_0002
Revises: user_0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "user_0002"
down_revision = "user_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _stamp(name: str = "created_at") -> sa.Column:
    return sa.Column(name, TS, nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("username", sa.String(30), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("bio", sa.Text),
        sa.Column("avatar_url", sa.String(2048)),
        sa.Column("location", sa.String(100)),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("last_active", TS),
        _stamp(),
        _stamp("updated_at"),
    )
    op.create_index("ix_profiles_username_lower", "profiles", [sa.text("lower(username)")])
    op.create_index("ix_profiles_display_name_lower", "profiles", [sa.text("lower(display_name)")])
    op.create_table(
        "privacy_settings",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("share_moods_with", sa.String(16), nullable=False, server_default="friends"),
        sa.Column("allow_friend_requests", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("show_online_status", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("allow_hugs_from", sa.String(16), nullable=False, server_default="friends"),
        _stamp("updated_at"),
        sa.CheckConstraint("share_moods_with IN ('public', 'friends', 'none')", name="share_moods_with"),
        sa.CheckConstraint("allow_hugs_from IN ('anyone', 'friends', 'none')", name="allow_hugs_from"),
    )
    op.create_table(
        "friendships",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("friend_id", sa.Uuid, primary_key=True),
        _stamp(),
        sa.CheckConstraint("user_id <> friend_id", name="not_self"),
    )
    op.create_table(
        "friend_requests",
        sa.Column("requester_id", sa.Uuid, primary_key=True),
        sa.Column("addressee_id", sa.Uuid, primary_key=True),
        _stamp(),
        sa.CheckConstraint("requester_id <> addressee_id", name="not_self"),
    )
    op.create_index("ix_friend_requests_addressee", "friend_requests", ["addressee_id", "created_at"])
    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.Uuid, primary_key=True),
        sa.Column("blocked_id", sa.Uuid, primary_key=True),
        _stamp(),
        sa.CheckConstraint("blocker_id <> blocked_id", name="not_self"),
    )
    op.create_index("ix_blocks_blocked", "blocks", ["blocked_id"])


def downgrade() -> None:
    for table in ("blocks", "friend_requests", "friendships", "privacy_settings", "profiles"):
        op.drop_table(table)
