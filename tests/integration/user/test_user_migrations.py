"""Data migrations of the user service, run against a database that holds rows from before them."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import create_engine, text

from shared.migrate import alembic_config, upgrade
from shared.testing import fresh_database


def test_accounts_closed_to_requests_before_the_social_list_existed_are_announced(servers):
    url = fresh_database(servers.database_url, servers.database("hugmood_user_migration"))
    command.upgrade(alembic_config("user", url), "user_0005")
    closed, open_ = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.begin() as conn:
            for user_id, allow in ((closed, False), (open_, True)):
                conn.execute(
                    text(
                        "INSERT INTO users.profiles (user_id, username, display_name, timezone) "
                        "VALUES (:u, :n, :n, 'UTC')"
                    ),
                    {"u": user_id, "n": f"u{user_id.hex[:8]}"},
                )
                conn.execute(
                    text(
                        "INSERT INTO users.privacy_settings (user_id, share_moods_with, allow_friend_requests, "
                        "show_online_status, allow_hugs_from) VALUES (:u, 'friends', :a, true, 'friends')"
                    ),
                    {"u": user_id, "a": allow},
                )
        upgrade(url, services=("user",))
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, event_type, payload, published_at FROM users.outbox ORDER BY created_at")
            ).all()
    finally:
        engine.dispose()
    [(event_id, event_type, payload, published_at)] = rows
    assert event_type == "PrivacyChanged" and published_at is None  # the relay sends it like any other
    assert payload["id"] == str(event_id) and payload["type"] == "PrivacyChanged"
    assert payload["data"] == {"user_id": str(closed)}
    assert payload["occurred_at"].endswith("+00:00")
