"""Mood service tables, in the `moods` schema."""

from __future__ import annotations

from shared.db import make_db
from shared.events import OutboxMixin, ProcessedEventMixin

db = make_db("mood")


class OutboxEvent(OutboxMixin, db.Model):
    pass


class ProcessedEvent(ProcessedEventMixin, db.Model):
    pass
