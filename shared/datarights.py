"""Data rights: what a service holds about a user, how it is exported, erased and counted.

Each service declares its `Holding`s (the tables that name a user, and how) in one `UserData`.
From that declaration this module:

- erases the user's rows when `UserDeleted` arrives (`subscribe_erasure`), and the Redis keys that
  name them;
- counts what is left, for the admin's erasure report (`UserData.remaining`);
- keeps erased users from coming back. `erase` leaves a tombstone, the SHA-256 of the user id (the
  id itself is not kept), and a trigger on each guarded table (installed by the service's
  migration from `guard_statements`) refuses a new row that names a tombstoned user: a hug in
  flight, an event that arrives late. An advisory lock, shared by the trigger and exclusive in
  `erase`, orders the two: a row written concurrently either commits before the erasure (and is
  erased) or sees the tombstone (and is refused).

A refused write raises SQLSTATE `ERASED_SQLSTATE`: a request answers 404, a consumer treats the
event as done (`shared.sqlstate.is_erasure_refusal`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from flask import jsonify
from flask_restful import Api, Resource
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.auth import current_identity, require_admin
from shared.errors import Forbidden, NotFound
from shared.events import claim_once, registry
from shared.openapi import operation
from shared.sqlstate import ERASED_SQLSTATE

ANY_OBJECT = {"type": "object", "additionalProperties": True}
ERASURE_REPORT = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string", "format": "uuid"},
        "erased": {"type": "boolean"},
        "rows": {"type": "object", "additionalProperties": {"type": "integer"}},
        "total": {"type": "integer"},
    },
}

# The advisory-lock namespace (the first of two int4 keys) of erasures and their guards.
LOCK_CLASS = 0x4844
TOMBSTONES = "erased_users"
GUARD_FUNCTION = "refuse_erased_users"
_UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


@dataclass(frozen=True)
class Holding:
    """A table that names users: in uuid `columns`, or anywhere inside jsonb `documents`.

    A row that names the user in any of them is the user's data (a hug they sent or received, a
    notification about them) and is erased with them. `guarded` tables refuse new rows that name
    an erased user.
    """

    table: str
    columns: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    guarded: bool = True

    @property
    def fields(self) -> tuple[str, ...]:
        return self.columns + self.documents


# Every service keeps events in these; they are erased like the rest but never guarded (an event
# that names an erased user is refused where its row is written, not in the outbox).
EVENT_HOLDINGS = (
    Holding("outbox", documents=("payload",), guarded=False),
    Holding("dead_letters", documents=("event",), guarded=False),
)


def canonical_user_id(user_id: Any) -> str:
    """The user id as the lowercase hyphenated text every table and event spells it; 404 if malformed."""
    try:
        return str(uuid.UUID(str(user_id)))
    except ValueError:
        raise NotFound("No such user.") from None


class UserData:
    """What one service (its `schema`) holds about users, and the Redis keys that name them."""

    def __init__(self, schema: str, holdings: Iterable[Holding], key_patterns: Iterable[str] = ()):
        self.schema = schema
        self.holdings = (*holdings, *EVENT_HOLDINGS)
        # Redis key patterns with a `{user}` placeholder, e.g. "hm:hug:audience:*{user}*".
        self.key_patterns = tuple(key_patterns)

    def _naming(self, holding: Holding) -> str:
        clauses = [f"{column} = CAST(:user AS uuid)" for column in holding.columns]
        clauses += [
            f"jsonb_path_exists({document}, '$.** ? (@ == $u)', jsonb_build_object('u', CAST(:user AS text)))"
            for document in holding.documents
        ]
        return " OR ".join(clauses)

    def erase(self, session: Session, user_id: Any, *, keep_events: Iterable[uuid.UUID] = ()) -> dict[str, int]:
        """Delete every row that names the user and leave a tombstone, in the caller's transaction.

        `keep_events` are outbox rows to leave (the publisher's own `UserDeleted`, still to be sent).
        Returns the rows deleted per table.
        """
        user = canonical_user_id(user_id)
        params = {"user": user}
        session.execute(text("SELECT pg_advisory_xact_lock(:cls, hashtext(:user))"), {**params, "cls": LOCK_CLASS})
        session.execute(
            text(
                f"INSERT INTO {self.schema}.{TOMBSTONES} (user_key) VALUES (sha256(convert_to(:user, 'UTF8'))) "
                "ON CONFLICT DO NOTHING"
            ),
            params,
        )
        deleted: dict[str, int] = {}
        keep = [uuid.UUID(str(event_id)) for event_id in keep_events]
        for holding in self.holdings:
            where = self._naming(holding)
            if holding.table == "outbox":
                ids = (
                    session.execute(
                        text(
                            f"DELETE FROM {self.schema}.outbox WHERE ({where}) AND NOT (id = ANY(:keep)) RETURNING id"
                        ),
                        {**params, "keep": keep},
                    )
                    .scalars()
                    .all()
                )
                session.execute(
                    text(f"DELETE FROM {self.schema}.outbox_deliveries WHERE event_id = ANY(:ids)"), {"ids": list(ids)}
                )
                deleted[holding.table] = len(ids)
                continue
            result = session.execute(text(f"DELETE FROM {self.schema}.{holding.table} WHERE {where}"), params)
            deleted[holding.table] = result.rowcount
        return deleted

    def remaining(self, session: Session, user_id: Any) -> dict[str, int]:
        """Rows per table that still name the user (the tombstone does not: it keeps only a hash)."""
        params = {"user": canonical_user_id(user_id)}
        return {
            holding.table: session.execute(
                text(f"SELECT count(*) FROM {self.schema}.{holding.table} WHERE {self._naming(holding)}"), params
            ).scalar_one()
            for holding in self.holdings
        }

    def is_erased(self, session: Session, user_id: Any) -> bool:
        """True once the user has been erased here."""
        return bool(
            session.execute(
                text(
                    f"SELECT EXISTS (SELECT 1 FROM {self.schema}.{TOMBSTONES} "
                    "WHERE user_key = sha256(convert_to(:user, 'UTF8')))"
                ),
                {"user": canonical_user_id(user_id)},
            ).scalar_one()
        )

    def purge_keys(self, client: redis.Redis, user_id: Any) -> int:
        """Delete the Redis keys of this service that name the user; returns how many."""
        user = canonical_user_id(user_id)
        removed = 0
        for pattern in self.key_patterns:
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern.format(user=user), count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    removed += client.delete(*batch)
                    batch = []
            if batch:
                removed += client.delete(*batch)
        return removed


def guard_statements(schema: str, holdings: Iterable[Holding]) -> list[str]:
    """DDL for a migration: the tombstone table, the guard function, and a trigger per guarded table.

    Re-running it is harmless, so a later migration that adds a holding calls it again.
    """
    statements = [
        f"CREATE TABLE IF NOT EXISTS {schema}.{TOMBSTONES} ("
        "user_key bytea PRIMARY KEY, erased_at timestamptz NOT NULL DEFAULT now())",
        f"""
CREATE OR REPLACE FUNCTION {schema}.{GUARD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $guard$
DECLARE
    named text[];
BEGIN
    SELECT array_agg(DISTINCT candidate ORDER BY candidate) INTO named FROM (
        SELECT leaf #>> '{{}}' AS candidate
        FROM unnest(TG_ARGV) AS field,
             jsonb_path_query(to_jsonb(NEW) -> field, 'strict $.** ? (@.type() == "string")') AS leaf
    ) AS strings
    WHERE candidate ~ '{_UUID_PATTERN}';
    IF named IS NULL THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock_shared({LOCK_CLASS}, hashtext(candidate)) FROM unnest(named) AS candidate;
    IF EXISTS (
        SELECT 1 FROM {schema}.{TOMBSTONES}
        WHERE user_key IN (SELECT sha256(convert_to(candidate, 'UTF8')) FROM unnest(named) AS candidate)
    ) THEN
        RAISE EXCEPTION 'a user this row names has deleted their account' USING ERRCODE = '{ERASED_SQLSTATE}';
    END IF;
    RETURN NEW;
END
$guard$""",
    ]
    for holding in holdings:
        if not holding.guarded:
            continue
        fields = ", ".join(holding.fields)
        arguments = ", ".join(f"'{field}'" for field in holding.fields)
        statements += [
            f"DROP TRIGGER IF EXISTS {GUARD_FUNCTION} ON {schema}.{holding.table}",
            f"CREATE TRIGGER {GUARD_FUNCTION} BEFORE INSERT OR UPDATE OF {fields} ON {schema}.{holding.table} "
            f"FOR EACH ROW EXECUTE FUNCTION {schema}.{GUARD_FUNCTION}({arguments})",
        ]
    return statements


def unguard_statements(schema: str, holdings: Iterable[Holding]) -> list[str]:
    """DDL undoing guard_statements (a migration's downgrade)."""
    triggers = [f"DROP TRIGGER IF EXISTS {GUARD_FUNCTION} ON {schema}.{h.table}" for h in holdings if h.guarded]
    return [
        *triggers,
        f"DROP FUNCTION IF EXISTS {schema}.{GUARD_FUNCTION}()",
        f"DROP TABLE IF EXISTS {schema}.{TOMBSTONES}",
    ]


def erase_on_event(
    session: Session,
    processed_model: type,
    consumer: str,
    event: dict[str, Any],
    user_data: UserData,
    client: redis.Redis,
) -> None:
    """The body of every service's `UserDeleted` consumer: erase once, then purge the Redis keys.

    The keys go after the commit and on every delivery, so a retry after Redis was down still
    removes them.
    """
    user_id = event["data"]["user_id"]
    if claim_once(session, processed_model, event["id"], consumer):
        user_data.erase(session, user_id)
    session.commit()
    user_data.purge_keys(client, user_id)


def subscribe_erasure(
    service: str, app: Callable[[], Any], db: Any, processed_model: type, user_data: UserData
) -> Callable[[dict[str, Any]], None]:
    """Register the service's `UserDeleted` consumer, `<service>.erase`, and return it.

    `app` is called on each delivery for the service's Flask app (a worker builds it lazily);
    `db.session` is read then too.
    """
    consumer = f"{service}.erase"

    def on_user_deleted(event: dict[str, Any]) -> None:
        flask_app = app()
        with flask_app.app_context():
            erase_on_event(db.session, processed_model, consumer, event, user_data, flask_app.extensions["redis"])

    on_user_deleted.__doc__ = f"Erase every {service} row and Redis key naming the deleted user (see USER_DATA)."
    return registry.subscribe("UserDeleted", consumer)(on_user_deleted)


def add_data_rights_resources(
    api: Api, user_data: UserData, session: Callable[[], Session], export: Callable[[str], dict[str, Any]]
) -> None:
    """Mount the two internal data-rights endpoints the gateway calls with the caller's own token.

    - `GET /internal/v1/account/export`: this service's section of the caller's export.
    - `GET /internal/v1/erasures/<user_id>`: admins only; rows still naming that user, per table.
    """

    class AccountExport(Resource):
        @operation("Internal: this service's section of the caller's data export", response=ANY_OBJECT)
        def get(self) -> Any:
            return jsonify(export(current_identity().user_id))

    class ErasureReport(Resource):
        @operation(
            "Internal, admins: the rows this service still holds naming a user",
            response=ERASURE_REPORT,
            errors=(Forbidden, NotFound),
        )
        def get(self, user_id: str) -> Any:
            require_admin()
            user = canonical_user_id(user_id)
            rows = user_data.remaining(session(), user)
            return jsonify(
                {
                    "user_id": user,
                    "erased": user_data.is_erased(session(), user),
                    "rows": rows,
                    "total": sum(rows.values()),
                }
            )

    api.add_resource(AccountExport, "/internal/v1/account/export", endpoint="account_export")
    api.add_resource(ErasureReport, "/internal/v1/erasures/<user_id>", endpoint="erasure_report")
