"""Mood import from CSV: a Daylio export or the generic columns, read row by row from the upload.

The file is read once, as a stream, row by row; unless it is a dry run, the good rows are
recorded in batches through `record_batch`, the same path as a recorded mood (its `MoodRecorded`
events included), all in one transaction: a file found to be bad halfway (not CSV, too many
rows) is refused whole and nothing of it is kept.
Each row carries a fingerprint of what it says (time, mood, tags, note) as `import_key`, unique
per user, so importing the same file again creates nothing new.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import IO, Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError
from sqlalchemy import select

from services.mood import errors, schemas
from services.mood.models import MoodEntry, db
from services.mood.service.entries import record_batch
from shared.app import unstorable_field

MAX_ROWS = 20_000
BATCH = 500
# Rejections listed in the answer (all are counted).
MAX_LISTED = 1000
DAYLIO = ("full_date", "date", "weekday", "time", "mood", "activities", "note_title", "note")
GENERIC_REQUIRED = ("recorded_at", "mood", "intensity")
GENERIC = (*GENERIC_REQUIRED, "valence", "tags", "note")

# Daylio's five moods as HugMood records them: (label, valence, intensity). Valence runs from
# awful (0) to rad (1) in even steps; intensity is how far from "meh" the mood is, so both ends
# are strong feelings and "meh" a mild one. Moods renamed in Daylio keep their own name as the
# label, with intensity 0.5 and no valence (HugMood cannot know where they sit).
DAYLIO_MOODS: dict[str, tuple[str, float, float]] = {
    "rad": ("great", 1.0, 0.9),
    "good": ("good", 0.75, 0.6),
    "meh": ("okay", 0.5, 0.3),
    "bad": ("low", 0.25, 0.6),
    "awful": ("awful", 0.0, 0.9),
}
CUSTOM_INTENSITY = 0.5
_TIME = re.compile(r"\A(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]M)?\Z")
_create = schemas.MoodCreate()


class RowError(ValueError):
    """One row that cannot be imported, with the reason a person can act on."""


@dataclass
class Outcome:
    format: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_LISTED:
            self.rejections.append({"line": line, "reason": reason})

    def document(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": self.created,
            "skipped_duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejections": self.rejections,
        }


def _file_problem(detail: str) -> errors.ImportInvalid:
    return errors.ImportInvalid(detail, errors={"file": [detail]})


def _rows(stream: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each record, the header first; 422 for text that is not UTF-8 CSV."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except UnicodeDecodeError:
        raise _file_problem("The file is not UTF-8 text; export it as CSV and try again.") from None
    except csv.Error as exc:
        raise _file_problem(f"Line {reader.line_num + 1} is not valid CSV: {exc}.") from None
    finally:
        # The upload is the caller's to close; an abandoned reader may outlive it.
        with contextlib.suppress(ValueError):
            text.detach()


def _format(header: list[str]) -> tuple[str, dict[str, int]]:
    names = [name.strip().lower() for name in header]
    columns = {name: index for index, name in enumerate(names) if name}
    if set(DAYLIO) <= set(columns):
        return "daylio", columns
    if set(GENERIC_REQUIRED) <= set(columns) and set(columns) <= set(GENERIC):
        return "generic", columns
    raise _file_problem(
        "Unrecognised columns. Expected a Daylio export ("
        + ",".join(DAYLIO)
        + ") or the generic columns ("
        + ",".join(GENERIC)
        + "; valence, tags and note optional)."
    )


def _local_time(raw: str) -> time:
    """A Daylio time of day: 20:30, 20:30:15, 8:30 PM or 8:30PM."""
    found = _TIME.match(raw.strip().upper())
    if found:
        hour, minute, second, half = found.groups()
        hour, minute = int(hour), int(minute)
        if half:
            hour = hour % 12 + (12 if half == "PM" else 0) if 1 <= hour <= 12 else 99
        if hour < 24 and minute < 60 and int(second or 0) < 60:
            return time(hour, minute, int(second or 0))
    raise RowError(f"time “{raw[:40]}” is not a time of day such as 20:30 or 8:30 PM")


def _daylio(cell: dict[str, str], zone: ZoneInfo) -> dict[str, Any]:
    try:
        day = date.fromisoformat(cell["full_date"].strip())
    except ValueError:
        raise RowError(f"full_date “{cell['full_date'][:40]}” is not a date such as 2024-03-31") from None
    when = datetime.combine(day, _local_time(cell["time"]), tzinfo=zone)
    label = cell["mood"].strip()
    label, valence, intensity = DAYLIO_MOODS.get(label.lower(), (label, None, CUSTOM_INTENSITY))
    title, note = cell["note_title"].strip(), cell["note"].strip()
    return {
        "mood": label,
        "intensity": intensity,
        "valence": valence,
        "tags": [t.strip() for t in cell["activities"].split("|") if t.strip()],
        "note": "\n\n".join(part for part in (title, note) if part) or None,
        "recorded_at": when.astimezone(UTC).isoformat(),
    }


def _number(cell: dict[str, str], name: str) -> float | None:
    raw = cell.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise RowError(f"{name} “{raw[:40]}” is not a number from 0 to 1") from None


def _generic(cell: dict[str, str]) -> dict[str, Any]:
    return {
        "mood": cell["mood"],
        "intensity": _number(cell, "intensity"),
        "valence": _number(cell, "valence"),
        "tags": [t.strip() for t in cell.get("tags", "").split("|") if t.strip()],
        "note": cell.get("note", "").strip() or None,
        "recorded_at": cell["recorded_at"].strip(),
    }


def _reasons(error: ValidationError) -> str:
    messages = error.messages if isinstance(error.messages, dict) else {"row": error.messages}
    return "; ".join(
        f"{name}: {' '.join(map(str, text)) if isinstance(text, list) else text}" for name, text in messages.items()
    )


def fingerprint(entry: dict[str, Any]) -> bytes:
    """What makes two imported rows the same entry: time, mood, tags and note."""
    parts = [
        entry["recorded_at"].astimezone(UTC).isoformat(),
        entry["mood"],
        "|".join(sorted(entry.get("tags") or [])),
        entry.get("note") or "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def _entry(kind: str, columns: dict[str, int], cells: list[str], zone: ZoneInfo) -> dict[str, Any]:
    """The entry a data row makes, validated as a recorded mood is; RowError if it cannot."""
    width = max(columns.values()) + 1
    if len(cells) < width:
        raise RowError(f"expected {width} cells, found {len(cells)}")
    cell = {name: cells[index] for name, index in columns.items()}
    if unstorable_field(cell) is not None:
        raise RowError("the row holds a NUL character or text that is not valid Unicode")
    raw = _daylio(cell, zone) if kind == "daylio" else _generic(cell)
    if raw["intensity"] is None:
        raise RowError("intensity is missing")
    try:
        entry = _create.load({name: value for name, value in raw.items() if value is not None})
    except ValidationError as exc:
        raise RowError(_reasons(exc)) from None
    entry = {"valence": None, "note": None, "tags": [], **entry, "arousal": None}
    entry["import_key"] = fingerprint(entry)
    return entry


def _entries(
    stream: IO[bytes], zone: ZoneInfo, reject: Callable[[int, str], None]
) -> tuple[str, Iterator[dict[str, Any]]]:
    """The file's format and an iterator of the entries its good data rows make; each bad row
    is passed to `reject` with its line number."""
    rows = _rows(stream)
    first = next(rows, None)
    if first is None:
        raise _file_problem("The file is empty.")
    kind, columns = _format(first[1])

    def entries() -> Iterator[dict[str, Any]]:
        count = 0
        for line, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                raise errors.ImportTooLong(
                    f"The file has more than {MAX_ROWS} rows; split it and import each part.",
                    errors={"file": [f"At most {MAX_ROWS} rows a file."]},
                )
            try:
                yield _entry(kind, columns, cells, zone)
            except RowError as exc:
                reject(line, str(exc))

    return kind, entries()


def _known(user_id: uuid.UUID, keys: list[bytes]) -> set[bytes]:
    found = db.session.execute(
        select(MoodEntry.import_key).where(MoodEntry.user_id == user_id, MoodEntry.import_key.in_(keys))
    ).scalars()
    return set(found)


def import_moods(*, user_id: uuid.UUID, stream: IO[bytes], timezone: str, dry_run: bool) -> dict[str, Any]:
    """Import a CSV upload for `user_id`, in one transaction; Daylio's local times are in
    `timezone` (the owner's). Returns the counts and each rejection with its line number; a file
    that is not CSV, has the wrong columns or too many rows is refused whole (422), nothing kept."""
    outcome = Outcome(format="", dry_run=dry_run)
    outcome.format, entries = _entries(stream, ZoneInfo(timezone), outcome.reject)
    seen: set[bytes] = set()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if dry_run:
            fresh = len(batch) - len(_known(user_id, [row["import_key"] for row in batch]))
        else:
            fresh = record_batch(user_id=user_id, rows=batch)
        outcome.created += fresh
        outcome.duplicates += len(batch) - fresh
        batch.clear()

    try:
        for entry in entries:
            outcome.rows += 1
            if entry["import_key"] in seen:  # the same row twice in one file
                outcome.duplicates += 1
                continue
            seen.add(entry["import_key"])
            batch.append(entry)
            if len(batch) >= BATCH:
                flush()
        flush()
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    outcome.rows += outcome.rejected
    return outcome.document()
