"""Social service tables, in the `social` schema."""

from __future__ import annotations

from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("social")


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass
