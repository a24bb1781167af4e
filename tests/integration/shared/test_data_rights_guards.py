"""Every service's migrations install the erasure guards its models declare, no more and no less."""

from __future__ import annotations

import importlib

import psycopg2
import pytest

from shared.config import SCHEMAS, SERVICES
from shared.datarights import GUARD_FUNCTION, TOMBSTONES


def installed_guards(database_url: str, schema: str) -> dict[str, tuple[str, ...]]:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT c.relname, t.tgargs FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND t.tgname = %s",
            (schema, GUARD_FUNCTION),
        )
        guards = {table: tuple(a.decode() for a in bytes(args).split(b"\x00") if a) for table, args in cur.fetchall()}
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.{TOMBSTONES}",))
        assert cur.fetchone()[0], f"{schema} has no {TOMBSTONES} table"
    conn.close()
    return guards


@pytest.mark.parametrize("service", SERVICES)
def test_installed_guards_match_the_declared_holdings(database_url, service):
    user_data = importlib.import_module(f"services.{service}.models").USER_DATA
    assert user_data.schema == SCHEMAS[service]
    declared = {h.table: h.fields for h in user_data.holdings if h.guarded}
    assert declared, f"{service} declares no guarded holding"
    assert installed_guards(database_url, SCHEMAS[service]) == declared


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_erases_on_user_deleted_except_auth_which_publishes_it(service):
    from shared.events import registry

    for name in SERVICES:
        importlib.import_module(f"services.{name}.tasks")

    erasers = {consumer.name.split(".", 1)[0] for consumer in registry.by_type["UserDeleted"]}
    assert (service in erasers) == (service != "auth")
