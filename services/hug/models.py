"""Hug service tables, in the `hugs` schema."""

from __future__ import annotations

from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("hug")


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass
