"""Alembic runner: one migration line per service, each under its own role and schema."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url

from shared.config import SERVICES, Setting, load_config
from shared.db import role_name, schema_name

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_ID = 0x4855474D  # "HUGM": one migrator at a time per database


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def prepare_role_and_schema(conn, service: str, role_password: str) -> None:
    """Create (idempotently) the service's login role and the schema it alone owns."""
    role, schema = role_name(service), schema_name(service)
    password = f"PASSWORD {_quote_literal(role_password)}" if role_password else "PASSWORD NULL"
    conn.execute(
        text(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :r) THEN "
            f"CREATE ROLE {role} LOGIN; END IF; END $$".replace(":r", _quote_literal(role))
        )
    )
    conn.execute(text(f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE {password}"))
    conn.execute(text(f"ALTER ROLE {role} SET search_path = {schema}"))
    conn.execute(text(f'GRANT CONNECT ON DATABASE "{conn.engine.url.database}" TO {role}'))
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}"))
    conn.execute(text(f"ALTER SCHEMA {schema} OWNER TO {role}"))
    conn.execute(text(f"REVOKE ALL ON SCHEMA public FROM {role}"))
    conn.execute(text(f"GRANT {role} TO CURRENT_USER"))


def run_env(service: str, target_metadata: MetaData | None = None) -> None:
    """Body of migrations/<service>/env.py: prepare role and schema, then migrate as that role."""
    from alembic import context

    url = context.config.attributes.get("admin_url") or os.environ["DATABASE_URL"]
    role_password = context.config.attributes.get("role_password", os.environ.get("DATABASE_ROLE_PASSWORD", ""))
    schema = schema_name(service)
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg2"))
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
        conn.commit()
        try:
            with conn.begin():
                prepare_role_and_schema(conn, service, role_password)
            with conn.begin():
                conn.execute(text(f"SET LOCAL ROLE {role_name(service)}"))
                conn.execute(text(f"SET LOCAL search_path = {schema}"))
                context.configure(
                    connection=conn,
                    target_metadata=target_metadata,
                    version_table_schema=schema,
                    include_schemas=False,
                    transaction_per_migration=False,
                )
                context.run_migrations()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
            conn.commit()
    engine.dispose()


def alembic_config(service: str, admin_url: str, role_password: str = "") -> AlembicConfig:
    """An Alembic config for one service's migration line (no alembic.ini needed)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR / service))
    cfg.attributes["admin_url"] = admin_url
    cfg.attributes["role_password"] = role_password
    return cfg


def upgrade(admin_url: str, role_password: str = "", services: tuple[str, ...] = SERVICES) -> None:
    """Bring every service's schema to head."""
    for service in services:
        command.upgrade(alembic_config(service, admin_url, role_password), "head")


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.migrate [upgrade] [service ...]`."""
    parser = argparse.ArgumentParser(prog="python -m shared.migrate")
    parser.add_argument("action", choices=["upgrade", "current"], nargs="?", default="upgrade")
    parser.add_argument("services", nargs="*", metavar="service")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(SERVICES)
    if unknown:
        parser.error(f"unknown services: {', '.join(sorted(unknown))}")
    config = load_config(
        "migrate",
        settings=[Setting("DATABASE_URL", secret=True), Setting("DATABASE_ROLE_PASSWORD", str, "", secret=True)],
    )
    services = tuple(args.services) or SERVICES
    for service in services:
        cfg = alembic_config(service, config.DATABASE_URL, config.DATABASE_ROLE_PASSWORD)
        if args.action == "upgrade":
            command.upgrade(cfg, "head")
        else:
            command.current(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())


class _OutboxTables:
    """The event plumbing tables (outbox, processed_events) for a service's migration."""

    def create(self) -> None:
        import sqlalchemy as sa
        from alembic import op
        from sqlalchemy.dialects import postgresql

        ts = sa.DateTime(timezone=True)
        op.create_table(
            "outbox",
            sa.Column("id", sa.Uuid, primary_key=True),
            sa.Column("event_type", sa.String(64), nullable=False),
            sa.Column("payload", postgresql.JSONB, nullable=False),
            sa.Column("created_at", ts, nullable=False, server_default=sa.func.now()),
            sa.Column("published_at", ts),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.Column("last_error", sa.Text),
        )
        op.create_index("ix_outbox_pending", "outbox", ["created_at"], postgresql_where=sa.text("published_at IS NULL"))
        op.create_table(
            "processed_events",
            sa.Column("event_id", sa.Uuid, primary_key=True),
            sa.Column("consumer", sa.String(64), primary_key=True),
            sa.Column("processed_at", ts, nullable=False, server_default=sa.func.now()),
        )

    def drop(self) -> None:
        from alembic import op

        op.drop_table("processed_events")
        op.drop_table("outbox")


outbox_tables = _OutboxTables()


class _DeadLetterTable:
    """Events a consumer of this service gave up on after its last retry, kept for an admin retry."""

    def create(self) -> None:
        import sqlalchemy as sa
        from alembic import op
        from sqlalchemy.dialects import postgresql

        ts = sa.DateTime(timezone=True)
        op.create_table(
            "dead_letters",
            sa.Column("id", sa.Uuid, primary_key=True),
            sa.Column("event_id", sa.Uuid, nullable=False),
            sa.Column("consumer", sa.String(64), nullable=False),
            sa.Column("event", postgresql.JSONB, nullable=False),
            sa.Column("error", sa.Text, nullable=False),
            sa.Column("failed_at", ts, nullable=False, server_default=sa.func.now()),
            sa.Column("retried_at", ts),
        )
        op.create_index(
            "ix_dead_letters_waiting", "dead_letters", ["failed_at"], postgresql_where=sa.text("retried_at IS NULL")
        )

    def drop(self) -> None:
        from alembic import op

        op.drop_table("dead_letters")


dead_letter_table = _DeadLetterTable()


class _OutboxDeliveriesTable:
    """The delivery ledger: one row per (event, consumer) the relay sent, marked done by the consumer."""

    def create(self) -> None:
        import sqlalchemy as sa
        from alembic import op

        ts = sa.DateTime(timezone=True)
        op.create_table(
            "outbox_deliveries",
            sa.Column("event_id", sa.Uuid, primary_key=True),
            sa.Column("consumer", sa.String(64), primary_key=True),
            sa.Column("sent_at", ts, nullable=False, server_default=sa.func.now()),
            sa.Column("done_at", ts),
            sa.Column("redeliveries", sa.Integer, nullable=False, server_default="0"),
        )
        op.create_index(
            "ix_outbox_deliveries_undone", "outbox_deliveries", ["sent_at"], postgresql_where=sa.text("done_at IS NULL")
        )

    def drop(self) -> None:
        from alembic import op

        op.drop_table("outbox_deliveries")


outbox_deliveries_table = _OutboxDeliveriesTable()
