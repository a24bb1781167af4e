"""Mood analytics benchmark: `GET /api/v1/moods/analytics/<user>?period=year` at realistic data size.

    .venv/bin/python bench/mood.py [--users 10000 --rows 3000000] [--sample 200] [--rate 50] [--duration 10]
    .venv/bin/python bench/mood.py --render bench/results/mood-<timestamp>.json   # re-print a saved run

One run, on a throw-away PostgreSQL database (`hugmood_moodbench`) and Redis db 8:

  1. seed: migrations (shared.migrate.upgrade), then `--rows` mood entries over `--users` users with
     COPY from a generated stream (two years of history in time order, per-user activity varied,
     0-4 tags of 40, 15 mood labels, ~30 % public), profiles and privacy rows for those users in the
     user service's tables, then VACUUM ANALYZE (so the analytics can be index-only scans); timed;
  2. for a random sample of users, side by side:
     a. through the service: the mood service (the Procfile's gunicorn command line) behind a real
        token of the owner, at a fixed rate, open loop (bench/loadgen.py, rotating over the sample);
        the auth service (JWKS, service tokens) and the user service (owner's time zone and privacy)
        run from the Procfile too;
     b. the service's own SQL (`_ANALYTICS_SQL` from services/mood/service/analytics.py) with psycopg2, prepared
        once and EXECUTEd as the service does;
     c. the same SQL with index scans switched off for its transaction (SET LOCAL enable_indexscan,
        enable_indexonlyscan, enable_bitmapscan = off), i.e. what it costs without its index;
     plus EXPLAIN (ANALYZE, BUFFERS) of the median sampled owner with and without the index, and of
     the heaviest sampled owner with it;
  3. prints a table, writes bench/results/mood-<timestamp>.json, stops everything it started and
     drops the database (unless BENCH_KEEP=1).

Knobs (environment): BENCH_DATABASE_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres),
BENCH_MOOD_DATABASE_NAME (hugmood_moodbench), BENCH_MOOD_REDIS_URL (redis://127.0.0.1:6379/8; the db is
flushed), BENCH_MOOD_PORT_BASE (14500: mood, +1 auth, +2 user), BENCH_MOOD_WORKERS (1, as the Procfile),
BENCH_QUIET_WAIT (10), BENCH_RETRIES (1),
BENCH_KEEP=1 (keep the temp dir with the services' logs, and the database).
See docs/benchmarks.md, "Mood analytics benchmark".
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import random
import resource
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/mood.py`
    sys.path.insert(0, str(ROOT))

from bench import common, loadgen  # noqa: E402
from bench.common import Session, Settings, env_int, log  # noqa: E402

MOOD_WORKERS = env_int("BENCH_MOOD_WORKERS", 1)
PERIOD = "year"
HISTORY_DAYS = 730
CONNECTIONS = 16
# The generator spends the last 2 ms before each send time polling instead of sleeping: asyncio's
# timers wake up to a millisecond late, and that lateness would count as the service's latency.
# It costs at most rate x 2 ms of a core (10 % at 50/s).
SPIN_MS = 2.0
DIRECT_N = 1000  # indexed psycopg2 executions (the sample, round after round)
UNINDEXED_MAX, UNINDEXED_MIN, UNINDEXED_BUDGET_S = 20, 5, 60.0
TARGETS = {"unindexed_ratio": 25.0, "service_p99_ms": 5.0}
TARGET_ROWS = 3_000_000  # the size the service p99 target is set for


def settings() -> Settings:
    """The mood service and the auth and user services it calls, one auth worker."""
    return Settings.from_env(
        "MOOD_",
        name="mood",
        database="hugmood_moodbench",
        redis_db=8,
        port_base=14500,
        ports=("mood", "auth", "user"),
        absent=("hug", "notification", "social"),
        absent_offset=5,  # below bench/notifications.py's ports (14510-)
        env={"AUTH_WORKERS": "1", "MOOD_WORKERS": str(MOOD_WORKERS)},
    )


# ---- the data ---------------------------------------------------------------------------------

# label -> typical valence
MOODS = {
    "happy": 0.8, "calm": 0.7, "grateful": 0.85, "excited": 0.85, "content": 0.7,
    "hopeful": 0.7, "proud": 0.8, "loved": 0.9, "tired": 0.4, "bored": 0.4,
    "anxious": 0.25, "stressed": 0.25, "sad": 0.2, "lonely": 0.2, "angry": 0.15,
}  # fmt: skip
MOOD_WEIGHTS = [14, 12, 6, 5, 10, 5, 3, 4, 12, 5, 7, 8, 5, 2, 2]
TAGS = [
    "work", "family", "friends", "exercise", "sleep", "food", "music", "reading", "weather", "travel",
    "school", "health", "partner", "kids", "pets", "nature", "meditation", "coffee", "commute", "gaming",
    "movies", "shopping", "cooking", "cleaning", "money", "weekend", "holiday", "party", "rain", "sun",
    "running", "yoga", "therapy", "doctor", "study", "deadline", "meeting", "date", "birthday", "news",
]  # fmt: skip
TAG_COUNT_WEIGHTS = [25, 30, 25, 13, 7]  # 0..4 tags
NOTES = [
    "Long day, but it went fine.", "Talked to an old friend.", "Could not sleep well.",
    "Nice walk in the park.", "Too many meetings.", "Good workout this morning.", "Feeling a bit off today.",
    "Cooked dinner for everyone.", "Rainy and slow.", "Finished a big task!",
]  # fmt: skip
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 7, 8, 7, 6, 6, 7, 6, 5, 5, 6, 7, 8, 9, 9, 8, 5, 2]
TIMEZONES = {
    "UTC": 20, "Europe/Berlin": 15, "Europe/London": 10, "America/New_York": 15, "America/Los_Angeles": 10,
    "America/Sao_Paulo": 8, "Asia/Tokyo": 8, "Asia/Kolkata": 8, "Australia/Sydney": 6,
}  # fmt: skip
SHARE_MOODS = {"friends": 60, "public": 25, "none": 15}
MOOD_COLUMNS = (
    "id, user_id, mood, intensity, valence, arousal, note, tags, is_public, recorded_at, created_at, updated_at"
)


@dataclass
class SeedUser:
    id: uuid.UUID
    timezone: str
    weight: float  # relative activity
    start_day: int  # first day (0 .. HISTORY_DAYS-1) the user records anything
    rows: int = 0


def make_users(rng: random.Random, n: int) -> list[SeedUser]:
    """Users sorted by start day: ~70 % from the start, the others joined along the way; activity
    log-normal, so a few users record ten times as much as the median one."""
    zones, zone_weights = list(TIMEZONES), list(TIMEZONES.values())
    users = [
        SeedUser(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            timezone=rng.choices(zones, zone_weights)[0],
            weight=rng.lognormvariate(0.0, 1.0),
            start_day=0 if rng.random() < 0.7 else rng.randrange(HISTORY_DAYS),
        )
        for _ in range(n)
    ]
    users.sort(key=lambda u: u.start_day)
    return users


def mood_lines(rng: random.Random, users: list[SeedUser], rows: int, now: datetime) -> Iterator[str]:
    """COPY text lines for `rows` entries over the last HISTORY_DAYS days, in time order (as the
    table fills in production), one chunk per day; each day's rows go to the users active that day
    in proportion to their activity."""
    cum = list(itertools.accumulate(u.weight for u in users))
    starts = [u.start_day for u in users]
    active = [bisect.bisect_right(starts, d) for d in range(HISTORY_DAYS)]  # users active on day d: a prefix
    day_weight = list(itertools.accumulate(cum[k - 1] for k in active))
    first = now.date() - timedelta(days=HISTORY_DAYS - 1)
    labels, tags_k = list(MOODS), range(len(TAG_COUNT_WEIGHTS))
    cum_mood = list(itertools.accumulate(MOOD_WEIGHTS))
    cum_hour = list(itertools.accumulate(HOUR_WEIGHTS))
    cum_tags = list(itertools.accumulate(TAG_COUNT_WEIGHTS))
    now_s = now.hour * 3600 + now.minute * 60 + now.second
    rnd, getrandbits, sample = rng.random, rng.getrandbits, rng.sample
    done = 0
    for d in range(HISTORY_DAYS):
        n = round(rows * day_weight[d] / day_weight[-1]) - done
        done += n
        total, hi = cum[active[d] - 1], active[d]
        today = d == HISTORY_DAYS - 1
        stamps = []
        for _ in range(n):
            sec = bisect.bisect(cum_hour, rnd() * cum_hour[-1]) * 3600 + int(rnd() * 3600)
            if today and sec > now_s:
                sec = int(rnd() * now_s)
            stamps.append((sec, bisect.bisect(cum, rnd() * total, 0, hi)))
        stamps.sort()
        day = (first + timedelta(days=d)).isoformat()
        out = []
        for sec, u in stamps:
            user = users[u]
            user.rows += 1
            label = labels[bisect.bisect(cum_mood, rnd() * cum_mood[-1])]
            valence = "\\N" if rnd() < 0.05 else f"{min(max(MOODS[label] + (rnd() - 0.5) * 0.4, 0.0), 1.0):.3f}"
            arousal = "\\N" if rnd() < 0.5 else f"{rnd():.3f}"
            note = NOTES[int(rnd() * len(NOTES))] if rnd() < 0.25 else "\\N"
            k = tags_k[bisect.bisect(cum_tags, rnd() * cum_tags[-1])]
            tags = "{" + ",".join(sample(TAGS, k)) + "}"
            public = "t" if rnd() < 0.3 else "f"
            at = f"{day} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+00"
            out.append(
                f"{getrandbits(128):032x}\t{user.id}\t{label}\t{rnd():.3f}\t{valence}\t{arousal}\t{note}\t{tags}"
                f"\t{public}\t{at}\t{at}\t{at}\n"
            )
        yield "".join(out)
        if d % (HISTORY_DAYS // 5) == HISTORY_DAYS // 5 - 1:  # progress, every fifth of the days
            log(f"  ... {done:,} of {rows:,} entries generated and sent")


class ChunkReader:
    """A file-like view of a generator of text chunks, for cursor.copy_expert: each read() hands
    over the next whole chunk (psycopg2 sends whatever it gets; empty means the end)."""

    def __init__(self, chunks: Iterator[str]):
        self.chunks = chunks

    def read(self, _size: int = -1) -> bytes:
        for chunk in self.chunks:
            if chunk:  # an empty read would end the COPY
                return chunk.encode()
        return b""

    readline = read


def seed(admin_db_url: str, users: int, rows: int, rng: random.Random) -> tuple[list[SeedUser], dict[str, Any]]:
    """Migrations, then users and mood entries by COPY, then VACUUM ANALYZE; with timings."""
    import psycopg2

    from shared.migrate import upgrade

    timings: dict[str, Any] = {"users": users, "rows": rows}
    started = time.perf_counter()
    upgrade(admin_db_url, services=("auth", "user", "mood"))
    timings["migrate_s"] = round(time.perf_counter() - started, 2)

    people = make_users(rng, users)
    shares = list(SHARE_MOODS)
    conn = psycopg2.connect(admin_db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        # The seed names no erased user, so skip the erasure guards' row triggers (this admin
        # connection is a superuser's): they make a COPY of millions of entries several times slower.
        cur.execute("SET session_replication_role = replica")
        profiles = "".join(f"{u.id}\tbench{i:06d}\tBench user {i}\t{u.timezone}\n" for i, u in enumerate(people))
        cur.copy_expert(
            "COPY users.profiles (user_id, username, display_name, timezone) FROM STDIN",
            ChunkReader(iter([profiles])),
        )
        privacy = "".join(f"{u.id}\t{rng.choices(shares, list(SHARE_MOODS.values()))[0]}\n" for u in people)
        cur.copy_expert(
            "COPY users.privacy_settings (user_id, share_moods_with) FROM STDIN", ChunkReader(iter([privacy]))
        )

        t0 = time.perf_counter()
        cur.copy_expert(
            f"COPY moods.mood_entries ({MOOD_COLUMNS}) FROM STDIN",
            ChunkReader(mood_lines(rng, people, rows, datetime.now(UTC))),
        )
        timings["copy_s"] = round(time.perf_counter() - t0, 2)  # generating the rows included
        t0 = time.perf_counter()
        cur.execute("VACUUM ANALYZE moods.mood_entries")
        cur.execute("VACUUM ANALYZE users.profiles")
        cur.execute("VACUUM ANALYZE users.privacy_settings")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - t0, 2)
        cur.execute(
            "SELECT pg_relation_size('moods.mood_entries'), pg_relation_size('moods.ix_mood_entries_user_recorded'),"
            " pg_relation_size('moods.pk_mood_entries'), count(*) FROM moods.mood_entries"
        )
        heap, index, pk, count = cur.fetchone()
    conn.close()
    counts = sorted(u.rows for u in people)
    timings.update(
        seed_s=round(time.perf_counter() - started, 2),
        rows_per_s_copy=round(rows / max(timings["copy_s"], 0.01)),
        table_mb=round(heap / 2**20, 1),
        index_mb=round(index / 2**20, 1),
        pk_mb=round(pk / 2**20, 1),
        rows_in_table=count,
        rows_per_user={
            "min": counts[0],
            "p50": counts[len(counts) // 2],
            "p99": counts[min(int(len(counts) * 0.99), len(counts) - 1)],
            "max": counts[-1],
        },
    )
    return people, timings


# ---- measurements -----------------------------------------------------------------------------


def analytics_sql() -> str:
    """The service's statement, compiled for psycopg2 (`:name` -> `%(name)s`; the text is unchanged)."""
    from sqlalchemy import text
    from sqlalchemy.dialects.postgresql import psycopg2 as pg_dialect

    from services.mood.service.analytics import _ANALYTICS_SQL

    return str(text(_ANALYTICS_SQL).compile(dialect=pg_dialect.dialect()))


def prepare_analytics(conn) -> None:
    """PREPARE the statement on the bench's connection, as the service does on each of its own."""
    from services.mood.service.analytics import ANALYTICS

    with conn.cursor() as cur:
        cur.execute(ANALYTICS.prepare_sql)


def sql_params(user: SeedUser) -> dict[str, Any]:
    """What the service binds for the owner asking for their own year (scope "all")."""
    from services.mood.service.analytics import FLAT_SLOPE, PERIODS

    since = datetime.now(UTC) - PERIODS[PERIOD]
    return {
        "user_id": user.id,
        "tz": user.timezone,
        "since": since,
        "scope": "all",
        "period": PERIOD,
        "flat": FLAT_SLOPE,
    }


NO_INDEX = "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off"


def run_sql(conn, sql: str, user: SeedUser, *, indexed: bool, explain: bool = False) -> tuple[float, Any]:
    """One execution: (seconds, result). Without the index: in its own transaction with index,
    index-only and bitmap scans off for that transaction only."""
    from services.mood.service.analytics import ANALYTICS

    with conn.cursor() as cur:
        if not indexed:
            cur.execute("BEGIN; " + NO_INDEX)
        started = time.perf_counter()
        if indexed and not explain:  # as the service runs it: EXECUTE of the prepared statement
            cur.execute(ANALYTICS.execute_sql, ANALYTICS.values(sql_params(user)))
        else:  # planned for this call: with the index scans off, or to show the plan and its planning time
            cur.execute(("EXPLAIN (ANALYZE, BUFFERS) " if explain else "") + sql, sql_params(user))
        result = cur.fetchall() if explain else cur.fetchone()[0]
        took = time.perf_counter() - started
        if not indexed:
            cur.execute("ROLLBACK")
    # the service sends the document's text as it comes; parsed here only to read it, after timing
    return took, "\n".join(r[0] for r in result) if explain else json.loads(result)


def metered(
    session: Session,
    label: str,
    requests: int | None,
    measure: Callable[[], dict[str, Any]],
    *,
    retry: bool = True,
) -> dict[str, Any]:
    """measure() after the session's settle(), under its CpuMeter; once more if other load on the
    machine disturbed it (BENCH_RETRIES). This process's own CPU (load generator, psycopg2 client)
    is reported as "bench", not as other load. requests: for CPU per request (None: result["n"])."""
    for attempt in (1, 2):
        quiet = session.settle(label)
        own = _self_cpu()
        meter = session.meter()
        result = measure()
        requests = requests or result["n"]
        cpu = meter.stop(requests)
        own = _self_cpu() - own
        cpu["cpu_s"]["bench"] = round(own, 3)
        cpu["cpu_ms_per_request"]["bench"] = round(own * 1000 / max(requests, 1), 3)
        cpu["background_cores"] = round(max(cpu["background_cores"] - own / cpu["wall_s"], 0.0), 2)
        result.update(cpu, before=quiet, attempt=attempt)
        if not retry or not session.retry_noisy(result, label):
            return result
    return result


def year_counts(conn, sql: str, sample: list[SeedUser]) -> dict[uuid.UUID, int]:
    """Each sampled owner's entries in the period (and a warm-up pass of the indexed statement)."""
    return {user.id: run_sql(conn, sql, user, indexed=True)[1]["count"] for user in sample}


def bench_direct(conn, sql: str, sample: list[SeedUser]) -> dict[str, Any]:
    """The indexed statement, DIRECT_N times, the sample round after round."""
    times: list[float] = []
    per_user: dict[uuid.UUID, list[float]] = {}
    for user in itertools.islice(itertools.cycle(sample), DIRECT_N):
        took, _ = run_sql(conn, sql, user, indexed=True)
        times.append(took)
        per_user.setdefault(user.id, []).append(took)
    return {
        "n": len(times),
        "latency_ms": loadgen.summarize(times),
        "_per_user": {k: sorted(v)[len(v) // 2] for k, v in per_user.items()},
    }


def bench_unindexed(conn, sql: str, sample: list[SeedUser]) -> dict[str, Any]:
    """Without the index: up to UNINDEXED_MAX runs (at least UNINDEXED_MIN) within UNINDEXED_BUDGET_S."""
    run_sql(conn, sql, sample[0], indexed=False)  # warm-up
    times: list[float] = []
    users: list[uuid.UUID] = []
    deadline = time.monotonic() + UNINDEXED_BUDGET_S
    for user in itertools.cycle(sample):
        if len(times) >= UNINDEXED_MAX or (len(times) >= UNINDEXED_MIN and time.monotonic() > deadline):
            break
        took, _ = run_sql(conn, sql, user, indexed=False)
        times.append(took)
        users.append(user.id)
    return {"n": len(times), "latency_ms": loadgen.summarize(times), "_pairs": list(zip(users, times, strict=True))}


def explain_plans(conn, sql: str, probe: SeedUser, heaviest: SeedUser, counts: dict[uuid.UUID, int]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS): the median owner of the sample with and without the index, and
    the heaviest owner (the p99) with it."""
    plans = {
        "indexed": run_sql(conn, sql, probe, indexed=True, explain=True)[1],
        "unindexed": run_sql(conn, sql, probe, indexed=False, explain=True)[1],
        "indexed_heaviest_owner": run_sql(conn, sql, heaviest, indexed=True, explain=True)[1],
    }

    def numbers(plan: str, label: str) -> list[float]:
        return [float(line.split(label, 1)[1].split()[0]) for line in plan.splitlines() if label in line]

    def summary(plan: str) -> dict[str, Any]:
        scans = ("Index Only Scan", "Index Scan", "Bitmap Heap Scan", "Parallel Seq Scan", "Seq Scan")
        return {
            "scan": next((x for x in scans if f"{x} " in plan), "?"),
            "index_only_scan_on_ix": "Index Only Scan using ix_mood_entries_user_recorded" in plan,
            "heap_fetches": [int(x) for x in numbers(plan, "Heap Fetches:")],
            "planning_ms": (numbers(plan, "Planning Time:") or [None])[0],
            "execution_ms": (numbers(plan, "Execution Time:") or [None])[0],
            "jit": "JIT:" in plan,
        }

    return {
        "owner": {"user_id": str(probe.id), "timezone": probe.timezone, "entries": counts[probe.id]},
        "heaviest_owner": {"user_id": str(heaviest.id), "timezone": heaviest.timezone, "entries": counts[heaviest.id]},
        **plans,
        "findings": {name: summary(plan) for name, plan in plans.items()},
    }


def loadgen_args(url: str, rate: float, duration: float) -> argparse.Namespace:
    """bench/loadgen.py's arguments for a. and its floor: the same rate, warm-up, connections and
    timeouts, so the two differ only in what they ask for."""
    return argparse.Namespace(
        url=url,
        rate=rate,
        duration=duration,
        warmup=1.0,
        connections=CONNECTIONS,
        timeout=10.0,
        grace=5.0,
        samples=False,
        spin_ms=SPIN_MS,
        method="GET",
        body=None,
        header=[],
    )


def bench_service(
    session: Session,
    tokens: dict[uuid.UUID, str],
    sample: list[SeedUser],
    rate: float,
    duration: float,
) -> dict[str, Any]:
    """Open loop at `rate` for `duration` s over the sample, owners in turn, after a warm-up pass."""
    fleet = session.fleet
    host = f"127.0.0.1:{session.settings.ports['mood']}"
    for user in sample:  # warm-up: JWKS, service token, audience cache, pools
        status, body = common.http_json("GET", f"http://{host}{analytics_path(user)}", token=tokens[user.id])
        if status != 200:
            raise SystemExit(f"GET {analytics_path(user)} answered {status}: {body}\n{fleet.log_tail('mood')}")
    payloads = [
        (
            f"GET {analytics_path(u)} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n"
            f"Authorization: Bearer {tokens[u.id]}\r\n\r\n"
        ).encode()
        for u in sample
    ]
    args = loadgen_args(f"http://{host}/api/v1/moods/analytics/<owner>?period={PERIOD}", rate, duration)

    def measure() -> dict[str, Any]:
        logs = {name: (fleet.tmp / f"{name}.log").stat().st_size for name in ("mood", "user")}
        measured_from = time.time() + 0.05 + args.warmup  # loadgen's first send + its warm-up
        # the owners in turn, each request with the owner's own token
        result = asyncio.run(loadgen.run(args, requests=itertools.cycle(payloads)))
        result["server_side"] = server_side(fleet, logs, measured_from)
        return result

    result = metered(session, "service", int(rate * (duration + args.warmup)), measure)
    result["users"] = len(sample)
    return result


def bench_floor(session: Session, rate: float, duration: float) -> dict[str, Any]:
    """The measuring floor: the same generator, rate and connections against the mood service's
    /healthz (gunicorn and Flask's request cycle with its metrics; no access-log line, token, Redis
    or SQL). What the generator, the loopback and gunicorn add to every request of a. is in here
    too."""
    args = loadgen_args(f"{session.settings.url('mood')}/healthz", rate, duration)
    return metered(session, "floor", int(rate * (duration + args.warmup)), lambda: asyncio.run(loadgen.run(args)))


def server_side(fleet: common.Fleet, offsets: dict[str, int], since: float) -> dict[str, Any]:
    """From the access logs (JSON lines, LOG_LEVEL=INFO): the mood service's own duration of each
    measured request, split by whether it asked the user service for the owner's audience (the
    5 s Redis cache missed; the user service logs the mood request's X-Request-ID) or not."""

    def entries(name: str) -> list[dict[str, Any]]:
        with open(fleet.tmp / f"{name}.log", "rb") as f:
            f.seek(offsets[name])
            lines = f.read().decode(errors="replace").splitlines()
        out = []
        for line in lines:
            if line.startswith("{") and '"hugmood.access"' in line:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    since_iso = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    fetched_for = {e.get("request_id") for e in entries("user") if "/audience/" in e.get("route", "")}
    mood = [e for e in entries("mood") if "/analytics/" in e.get("route", "") and e["ts"] >= since_iso]
    cached = [e["duration_ms"] / 1000 for e in mood if e.get("request_id") not in fetched_for]
    fetched = [e["duration_ms"] / 1000 for e in mood if e.get("request_id") in fetched_for]
    return {
        "requests": len(mood),
        "audience_fetched": len(fetched),
        "duration_ms": loadgen.summarize(cached + fetched),
        "duration_ms_audience_cached": loadgen.summarize(cached),
        "duration_ms_audience_fetched": loadgen.summarize(fetched),
    }


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def analytics_path(user: SeedUser) -> str:
    return f"/api/v1/moods/analytics/{user.id}?period={PERIOD}"


# ---- the run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=TARGET_ROWS)
    parser.add_argument("--sample", type=int, default=200, help="users measured (random)")
    parser.add_argument("--rate", type=float, default=50.0, help="service requests per second (open loop)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of service load (after 1 s warm-up)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data and the sample")
    parser.add_argument("--render", metavar="JSON", help="re-print the table of a saved run")
    args = parser.parse_args()
    return common.bench_main(
        settings(),
        lambda session: measure(session, args),
        render,
        argv=["--render", args.render] if args.render else [],
    )


def measure(session: Session, args: argparse.Namespace) -> int:
    import psycopg2
    import psycopg2.extras

    from services.auth.service import SigningKey
    from shared.testing import mint_token

    s, fleet = session.settings, session.fleet
    rng = random.Random(args.seed)
    results = session.results()
    log(f"machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}; temp dir {fleet.tmp}")

    # -- 1. database, data
    db_url = common.fresh_database(s)
    common.flush_redis(s)
    log(f"seeding {args.rows} mood entries over {args.users} users into {s.database} ...")
    people, seeded = seed(db_url, args.users, args.rows, rng)
    results["seed"] = seeded
    log(
        f"seeded in {seeded['seed_s']} s (COPY incl. generation {seeded['copy_s']} s = {seeded['rows_per_s_copy']}"
        f" rows/s, VACUUM ANALYZE {seeded['vacuum_analyze_s']} s); table {seeded['table_mb']} MB,"
        f" index {seeded['index_mb']} MB"
    )

    # -- the fleet, and a token for every sampled owner (signed with the auth service's own key)
    commands = fleet.start_procfile("auth", "user", "mood")
    fleet.wait_ready("auth", "user", "mood")
    results["config"] = {
        "users": args.users,
        "rows": args.rows,
        "sample": min(args.sample, len(people)),
        "rate": args.rate,
        "duration_s": args.duration,
        "connections": CONNECTIONS,
        "period": PERIOD,
        "direct_n": DIRECT_N,
        "unindexed": {"max": UNINDEXED_MAX, "min": UNINDEXED_MIN, "budget_s": UNINDEXED_BUDGET_S},
        "without_index": NO_INDEX,
        "commands": commands,
        "redis": s.redis_url,
        "database": s.database,
        "seed": args.seed,
    }
    key = SigningKey.from_pem((fleet.tmp / "jwt-signing-key.pem").read_text())
    active = [u for u in people if u.rows]
    if not active:
        raise SystemExit("no user has any entries: give more --rows")
    sample = rng.sample(active, min(args.sample, len(active)))
    # PyJWT takes the parsed key as well as the PEM (and does not re-parse it per token)
    tokens = {u.id: mint_token(key.private_key, key.kid, subject=str(u.id), lifetime=3600) for u in sample}
    ports = ", ".join(f"{n} :{p}" for n, p in s.ports.items())
    log(f"fleet up: {ports}; {len(sample)} owners sampled")

    psycopg2.extras.register_uuid()
    sql = analytics_sql()
    conn = psycopg2.connect(db_url, user="hugmood_mood", options="-c search_path=moods", application_name="moodbench")
    conn.autocommit = True

    session.roots = fleet.roots("mood", "user", "auth")
    prepare_analytics(conn)
    counts = year_counts(conn, sql, sample)
    in_period = sorted(counts.values())

    # the service answers what the SQL answers (for the owner with the median count)
    probe = sorted(sample, key=lambda u: counts[u.id])[len(sample) // 2]
    status, body = common.http_json("GET", s.url("mood") + analytics_path(probe), token=tokens[probe.id])
    if status != 200 or abs(body["count"] - counts[probe.id]) > 1:
        raise SystemExit(f"service and SQL disagree for {probe.id}: {status} {body} vs {counts[probe.id]}")

    # -- 2b. the SQL, indexed
    direct = metered(session, "direct SQL", None, lambda: bench_direct(conn, sql, sample))
    direct["rows_per_user_in_period"] = {"min": in_period[0], "p50": in_period[len(in_period) // 2],
                                         "max": in_period[-1]}  # fmt: skip
    q = direct["latency_ms"]
    log(f"direct SQL, indexed: {direct['n']} runs, p50 {q['p50']} ms p99 {q['p99']} ms")

    # -- 2a. through the service
    service = bench_service(session, tokens, sample, args.rate, args.duration)
    q = service["latency_ms"]
    log(
        f"service @{args.rate:g}/s: achieved {service['achieved_rate']}/s p50 {q['p50']} ms p99 {q['p99']} ms"
        f" statuses {service['statuses']} errors {service['errors']}; other load {service['background_cores']} cores"
    )

    floor = bench_floor(session, args.rate, args.duration)
    q = floor["latency_ms"]
    log(f"floor (GET /healthz) @{args.rate:g}/s: p50 {q['p50']} ms p99 {q['p99']} ms")

    # -- 2c. the SQL without its index, and the plans
    heaviest = max(sample, key=lambda u: counts[u.id])
    explain = explain_plans(conn, sql, probe, heaviest, counts)
    # no repeat: a parallel seq scan's workers are PostgreSQL processes that live for one query, so
    # CpuMeter cannot attribute them and counts them as other load
    unindexed = metered(session, "direct SQL, no index", None, lambda: bench_unindexed(conn, sql, sample), retry=False)
    log(
        f"direct SQL, no index: {unindexed['n']} runs, p50 {unindexed['latency_ms']['p50']} ms"
        f" p99 {unindexed['latency_ms']['p99']} ms"
    )
    conn.close()

    per_user = direct.pop("_per_user")
    pair_ratios = sorted(t / per_user[u] for u, t in unindexed.pop("_pairs"))
    results.update(
        service=service,
        floor=floor,
        direct_indexed=direct,
        direct_unindexed=unindexed,
        explain=explain,
        ratio_unindexed_to_indexed={
            "p50": round(unindexed["latency_ms"]["p50"] / direct["latency_ms"]["p50"], 1),
            "p99": round(unindexed["latency_ms"]["p99"] / direct["latency_ms"]["p99"], 1),
            "paired_median": round(pair_ratios[len(pair_ratios) // 2], 1),
        },
    )
    results["targets"] = evaluate(results)
    return common.finish(session, results, render)


def evaluate(r: dict[str, Any]) -> dict[str, Any]:
    ratio = r["ratio_unindexed_to_indexed"]["p50"]
    p99 = r["service"]["latency_ms"]["p99"]
    bad = sum(r["service"]["errors"].values()) + sum(
        v for k, v in r["service"]["statuses"].items() if not k.startswith("2")
    )
    full = r["config"]["rows"] >= TARGET_ROWS
    return {
        "unindexed_ratio": {
            "value": ratio,
            "target": ">= 25x (p50)",
            "met": ratio >= TARGETS["unindexed_ratio"],
        },
        "service_p99_ms": {
            "value": p99,
            "target": f"<= 5 ms at {TARGET_ROWS:,} rows" + ("" if full else " (this run is smaller)"),
            "met": p99 <= TARGETS["service_p99_ms"] and bad == 0,
        },
    }


def render(r: dict[str, Any]) -> str:
    c, s = r["config"], r["seed"]
    size = "" if c["rows"] >= TARGET_ROWS else "   SMALL RUN: not the target size"
    lines = [
        "",
        common.heading("mood analytics benchmark", r),
        f"data: {s['rows_in_table']:,} entries, {c['users']:,} users"
        f" (entries per user: {' / '.join(f'{k} {v}' for k, v in s['rows_per_user'].items())});"
        f" table {s['table_mb']} MB, ix_mood_entries_user_recorded {s['index_mb']} MB{size}",
        f"seed: {s['seed_s']} s (migrations {s['migrate_s']} s, COPY incl. generation {s['copy_s']} s ="
        f" {s['rows_per_s_copy']:,} rows/s, VACUUM ANALYZE {s['vacuum_analyze_s']} s)",
        "",
        f"GET /api/v1/moods/analytics/<owner>?period={c['period']}, {c['sample']} random owners"
        f" (their entries in the period: {r['direct_indexed']['rows_per_user_in_period']})",
        f"  {'':44}{'runs':>6}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}",
    ]
    sv = r["service"]
    rows = [
        (f"a. service, open loop {c['rate']:g}/s x {c['duration_s']:g} s", sv["completed"], sv["latency_ms"]),
        *(
            [("   floor: same generator, GET /healthz", r["floor"]["completed"], r["floor"]["latency_ms"])]
            if "floor" in r
            else []
        ),
        ("b. SQL (psycopg2), indexed", r["direct_indexed"]["n"], r["direct_indexed"]["latency_ms"]),
        ("c. SQL (psycopg2), index scans off", r["direct_unindexed"]["n"], r["direct_unindexed"]["latency_ms"]),
    ]
    for label, n, q in rows:
        lines.append(f"  {label:<44}{n:>6}{q['p50']:>9.2f}{q['p90']:>9.2f}{q['p99']:>9.2f}{q['p100']:>9.2f}")
    bad = sum(sv["errors"].values()) + sum(v for k, v in sv["statuses"].items() if not k.startswith("2"))
    cpu = sv["cpu_ms_per_request"]
    ratio = r["ratio_unindexed_to_indexed"]
    f = r["explain"]["findings"]
    ss = sv["server_side"]

    def pp(q: dict[str, Any]) -> str:
        return "-" if q["p50"] is None else f"{q['p50']:.2f}/{q['p99']:.2f}"

    lines += [
        f"  service, its own time (access log) p50/p99 ms: all {pp(ss['duration_ms'])}; audience from the Redis"
        f" cache ({ss['requests'] - ss['audience_fetched']}) {pp(ss['duration_ms_audience_cached'])};"
        f" fetched from the user service ({ss['audience_fetched']}) {pp(ss['duration_ms_audience_fetched'])}",
        f"  service: achieved {sv['achieved_rate']}/s, {bad} errors; CPU ms/request: mood {cpu.get('mood', 0):.2f},"
        f" user {cpu.get('user', 0):.2f}, auth {cpu.get('auth', 0):.2f}, postgres {cpu.get('postgres', 0):.2f};"
        f" other load on the machine {sv['background_cores']} cores",
        f"  without the index / with it: p50 {ratio['p50']}x, p99 {ratio['p99']}x,"
        f" same owners (median of pairs) {ratio['paired_median']}x",
        *(
            f"  EXPLAIN {name.replace('_', ' ')}: {x['scan']}, heap fetches {x['heap_fetches']},"
            f" planning {x['planning_ms']} ms, execution {x['execution_ms']} ms{', JIT' if x['jit'] else ''}"
            for name, x in f.items()
        ),
        "",
        "Targets",
    ]
    for name, v in r["targets"].items():
        lines.append(f"  {name:<18}{v['value']!s:>9}   target {v['target']:<48}{'MET' if v['met'] else 'MISSED'}")
    phases = [("service", sv), ("SQL indexed", r["direct_indexed"])]
    parallel = f["unindexed"]["scan"] == "Parallel Seq Scan"
    if not parallel:
        phases.append(("SQL without index", r["direct_unindexed"]))
    noisy = [f"{label} ({x['background_cores']:.2f})" for label, x in phases if x["background_cores"] > 0.15]
    if noisy:
        lines.append(f"\n  NOISY: other load on the machine, in cores, during {', '.join(noisy)}")
    if parallel:
        lines.append(
            f"  (other load during the SQL without index, {r['direct_unindexed']['background_cores']:.2f} cores,"
            " includes PostgreSQL's parallel workers: they live for one query, /proc cannot attribute them)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
