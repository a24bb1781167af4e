"""Import of a 20,000-row Daylio export: time and peak memory, against a plain CSV read of the
same file (the floor: parsing alone, nothing checked or written).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/import_daylio.py

It creates (and drops afterwards) the database `hugmood_bench_import`, migrates the mood service
and imports the file for one user through `importer.import_moods`, the function the endpoint
calls, from a temporary file as the upload would be spooled; then imports it again (every row
a duplicate). Peak memory is the process's peak RSS after each step (it only grows).
"""

from __future__ import annotations

import csv
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.mood import create_app  # noqa: E402
from services.mood.service.importer import import_moods  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.testing import fresh_database  # noqa: E402

ROWS = 20_000
ACTIVITIES = ["walk", "friends", "work", "reading", "gym", "sleep early", "family", "cooking", "music", "rain"]
MOODS = ["rad", "good", "meh", "bad", "awful"]


def daylio_file(path: Path, rows: int) -> None:
    """A Daylio export of `rows` entries, newest first, two or three a day, some with notes."""
    rng = random.Random(7)
    day = date(2026, 11, 30)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["full_date", "date", "weekday", "time", "mood", "activities", "note_title", "note"])
        for index in range(rows):
            if index % 3 == 0:
                day -= timedelta(days=1)
            hour, minute = rng.randrange(24), rng.randrange(60)
            note = "Felt the day go by; " * rng.randrange(0, 6)
            writer.writerow(
                [
                    day.isoformat(),
                    day.strftime("%B %-d"),
                    day.strftime("%A"),
                    f"{(hour % 12) or 12}:{minute:02d} {'AM' if hour < 12 else 'PM'}",
                    rng.choice(MOODS),
                    " | ".join(rng.sample(ACTIVITIES, rng.randrange(0, 4))),
                    "",
                    note.strip(),
                ]
            )


def measure(step):
    """(result, wall s, CPU s, the process's peak RSS in bytes after the step). tracemalloc is
    not used: it slows this row-by-row Python code several times over."""
    started, cpu = time.perf_counter(), time.process_time()
    result = step()
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    return result, elapsed, used, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = fresh_database(admin, "hugmood_bench_import")
    upgrade(url, services=("mood",))
    app = create_app(
        {
            "DATABASE_URL": url,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            "HUGMOOD_ENV": "development",
            "LOG_LEVEL": "WARNING",
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "daylio.csv"
        daylio_file(path, ROWS)
        size = path.stat().st_size

        def plain_read() -> int:
            with path.open(newline="") as handle:
                return sum(1 for _ in csv.reader(handle)) - 1

        user = uuid.uuid4()

        def run() -> dict:
            with app.app_context(), path.open("rb") as upload:
                return import_moods(user_id=user, stream=upload, timezone="Europe/Berlin", dry_run=False)

        rows, base_s, base_cpu, base_peak = measure(plain_read)
        first, first_s, first_cpu, first_peak = measure(run)
        again, again_s, again_cpu, again_peak = measure(run)
    print(f"file: {rows} rows, {size / 1e6:.2f} MB; date {time.strftime('%Y-%m-%d')}; {os.cpu_count()} cores")
    print(f"{'step':<28}{'wall s':>8}{'cpu s':>8}{'RSS MiB':>10}  result")
    print(f"{'plain csv read (baseline)':<28}{base_s:>8.2f}{base_cpu:>8.2f}{base_peak / 2**20:>10.2f}  {rows} rows")
    print(
        f"{'import':<28}{first_s:>8.2f}{first_cpu:>8.2f}{first_peak / 2**20:>10.2f}"
        f"  created {first['created']}, rejected {first['rejected']}, duplicates {first['skipped_duplicates']}"
    )
    print(
        f"{'import again (duplicates)':<28}{again_s:>8.2f}{again_cpu:>8.2f}{again_peak / 2**20:>10.2f}"
        f"  created {again['created']}, duplicates {again['skipped_duplicates']}"
    )
    print(f"import / baseline wall time: {first_s / base_s:.0f}x")
    fresh_database(admin, "hugmood_bench_import")  # leave it empty


if __name__ == "__main__":
    main()
