"""user: announce every account that takes no friend requests, so the social service learns them

The social service keeps its own list of people who take no friend requests (never recommended),
fed by PrivacyChanged. Accounts that had turned requests off before that list existed never sent
the event; this sends it once for each of them, through the outbox like any other event.

Revision ID: user_0006
Revises: user_0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "user_0006"
down_revision = "user_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        INSERT INTO users.outbox (id, event_type, payload, attempts)
        SELECT e.id, 'PrivacyChanged',
               jsonb_build_object(
                   'id', e.id::text, 'type', 'PrivacyChanged',
                   'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
                   'data', jsonb_build_object('user_id', p.user_id::text)),
               0
        FROM users.privacy_settings p CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id) e
        WHERE NOT p.allow_friend_requests
        """
    )


def downgrade() -> None:
    pass  # events once sent are not taken back; a PrivacyChanged only re-reads current settings
