"""Long polling: newer items at once, or (for a poll made directly to this service) a wait for the
user's wake-up. Through the gateway the wait happens there, and this service only answers checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from services.notification.models import Notification, db
from services.notification.service import inbox
from shared.db import outside_transaction
from shared.pagination import encode_cursor
from shared.wake import WakeHub, answer_from


def poll(
    *,
    user_id: uuid.UUID,
    cursor: str | None,
    timeout: float,
    hub: WakeHub | None,
    dump: Callable[[list[Notification]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Answer a long poll: newer items at once, or hold until a wake-up or the timeout.

    Without a hub the poll is only checked, never held: the caller (the gateway) holds it and asks
    again on the user's wake-up. The database session is released before holding, so a held
    request never keeps a connection.
    """
    if cursor is None:
        items = inbox.unread(user_id)
        body = {"items": dump(items), "cursor": encode_cursor(inbox.current_seq(user_id))}
        db.session.remove()
        return body
    seq = inbox.seq_from_cursor(cursor)
    if hub is None:
        return _newer(user_id, seq, cursor, dump)
    deadline = time.monotonic() + timeout
    with hub.waiting(user_id) as event:
        # Registered before the first query: a notification committed after it publishes a
        # wake-up that finds this waiter, so nothing slips between the query and the wait.
        while True:
            event.clear()
            body = _newer(user_id, seq, cursor, dump)
            remaining = deadline - time.monotonic()
            if body["items"] or remaining <= 0:
                return body
            # No periodic re-read while holding: a re-check every N seconds is (held polls / N) queries
            # a second, enough to empty the pool with thousands held. A wake-up lost while the
            # subscriber reconnects is covered by its wake-all on reconnect, and every poll reads the
            # database once more at its timeout.
            if event.wait(remaining) and (news := answer_from(event.news, cursor)) is not None:
                return news  # what was just committed, right after this cursor: no query needed


def _newer(
    user_id: uuid.UUID, seq: int, cursor: str, dump: Callable[[list[Notification]], list[dict[str, Any]]]
) -> dict[str, Any]:
    """What is newer than the cursor, and the cursor after it; the session released."""
    outside_transaction(db.session)  # one statement: the items, and the cursor from them
    items = inbox.newer_than(user_id, seq)
    body = {"items": dump(items), "cursor": encode_cursor(items[-1].seq) if items else cursor}
    db.session.remove()
    return body
