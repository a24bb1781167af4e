"""Analytics benchmark: correlations and patterns through the gateway, and the insight task's CPU,
for one owner with three years of daily entries and 20 tags.

    .venv/bin/python bench/analytics.py [--years 3] [--rate 20] [--duration 10] [--runs 200]
    .venv/bin/python bench/analytics.py --render bench/results/analytics-<timestamp>.json

One run, on a throw-away database (`hugmood_analyticsbench`) and Redis db 13:

  1. seed: migrations, one owner (profile and privacy rows, Europe/Berlin), `--years` of daily
     check-ins (1-3 a day at varied hours, 0-3 of 20 tags, a few planted effects so there are
     findings to store) and hug days (received on ~25 % of days, sent on ~15 %), by COPY;
  2. the gateway, auth, user and mood services from the Procfile; the owner's own token;
  3. for GET /api/v1/analytics/correlations/me?period=all and /patterns/me?period=all:
     a. through the gateway, open loop at `--rate` for `--duration` s (bench/loadgen.py);
     b. beside it, the same computation raw: the service's two SQL statements with psycopg2, then
        the same numpy/scipy (services.mood.service.days.group_days, correlations.compare,
        patterns.describe), `--runs` times;
  4. the insight task: `tasks.refresh_insights(owner)` run in this process `--runs` / 10 times
     (the Celery task's body: the owner's time zone from the user service, the year's
     correlations, the insight rows written), its CPU per run from getrusage, beside the CPU of
     the raw computation of 3b for the task's period;
  5. prints a table, writes bench/results/analytics-<timestamp>.json, stops the fleet and drops
     the database (unless BENCH_KEEP=1).

Knobs: BENCH_DATABASE_URL, BENCH_ANALYTICS_DATABASE_NAME, BENCH_ANALYTICS_REDIS_URL
(redis://127.0.0.1:6379/13, flushed), BENCH_ANALYTICS_PORT_BASE (14530: gateway, +1 auth, +2 user,
+3 mood), BENCH_KEEP, BENCH_QUIET_WAIT, BENCH_RETRIES. See docs/benchmarks.md, "Analytics benchmark".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/analytics.py`
    sys.path.insert(0, str(ROOT))

from bench import common, loadgen  # noqa: E402
from bench.common import Session, Settings, log  # noqa: E402
from bench.mood import ChunkReader, loadgen_args, metered  # noqa: E402

TAGS = [
    "work", "family", "friends", "exercise", "sleep", "food", "music", "reading", "weather", "travel",
    "nature", "meditation", "coffee", "commute", "gaming", "cooking", "money", "rain", "study", "meeting",
]  # fmt: skip
# Planted: these tags move the day's valence by this much (the rest by nothing).
EFFECTS = {"exercise": 0.08, "nature": 0.06, "work": -0.05, "commute": -0.04}
TIMEZONE = "Europe/Berlin"
PATHS = {
    "correlations": "/api/v1/analytics/correlations/me?period=all",
    "patterns": "/api/v1/analytics/patterns/me?period=all",
}
TARGETS = {"gateway_p99_ms": 50.0, "insight_task_cpu_s": 1.0}


def settings() -> Settings:
    return Settings.from_env(
        "ANALYTICS_",
        name="analytics",
        database="hugmood_analyticsbench",
        redis_db=13,
        port_base=14530,
        ports=("gateway", "auth", "user", "mood"),
        absent=("hug", "notification", "social"),
        # the limiter runs on every request but never rejects one (the bench is one user at 20/s)
        env={
            "AUTH_WORKERS": "1",
            "GATEWAY_RATE_LIMIT_PER_IP": common.HUGE,
            "GATEWAY_RATE_LIMIT_PER_USER": common.HUGE,
        },
    )


def entry_lines(rng: random.Random, owner: uuid.UUID, days: int, now: datetime) -> tuple[str, int]:
    """COPY lines of the owner's entries over the last `days` days; (text, rows)."""
    out, rows = [], 0
    for d in range(days, 0, -1):
        day = now - timedelta(days=d)
        mood = 0.55 + 0.1 * rng.gauss(0, 1) - (0.05 if day.weekday() == 0 else 0.0)
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            at = day.replace(hour=rng.randrange(6, 24), minute=rng.randrange(60), second=0, microsecond=0)
            tags = rng.sample(TAGS, rng.choice((0, 1, 1, 2, 2, 3)))
            valence = mood + sum(EFFECTS.get(t, 0.0) for t in tags) + 0.08 * rng.gauss(0, 1)
            stamp = at.isoformat()
            out.append(
                f"{uuid.uuid4()}\t{owner}\tcalm\t0.5\t{min(max(valence, 0.0), 1.0):.3f}\t"
                f"{{{','.join(tags)}}}\t{stamp}\t{stamp}\t{stamp}\n"
            )
            rows += 1
    return "".join(out), rows


def hug_lines(rng: random.Random, owner: uuid.UUID, days: int, now: datetime) -> str:
    out = []
    for d in range(days, 0, -1):
        for direction, share in (("received", 0.25), ("sent", 0.15)):
            if rng.random() < share:
                at = (now - timedelta(days=d)).replace(hour=rng.randrange(8, 22)).isoformat()
                out.append(f"{owner}\t{uuid.uuid4()}\t{direction}\t{at}\n")
    return "".join(out)


def seed(db_url: str, owner: uuid.UUID, years: int, rng: random.Random) -> dict[str, Any]:
    import psycopg2

    from shared.migrate import upgrade

    started = time.perf_counter()
    upgrade(db_url, services=("auth", "user", "mood"))
    days = 365 * years
    now = datetime.now(UTC)
    entries, rows = entry_lines(rng, owner, days, now)
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users.profiles (user_id, username, display_name, timezone) VALUES (%s, 'owner', 'Owner', %s)",
            (str(owner), TIMEZONE),
        )
        cur.execute("INSERT INTO users.privacy_settings (user_id, share_moods_with) VALUES (%s, 'none')", (str(owner),))
        cur.copy_expert(
            "COPY moods.mood_entries (id, user_id, mood, intensity, valence, tags, recorded_at, created_at, updated_at)"
            " FROM STDIN",
            ChunkReader(iter([entries])),
        )
        cur.copy_expert(
            "COPY moods.hug_days (user_id, hug_id, direction, occurred_at) FROM STDIN",
            ChunkReader(iter([hug_lines(rng, owner, days, now)])),
        )
        cur.execute("VACUUM ANALYZE moods.mood_entries")
        cur.execute("VACUUM ANALYZE moods.hug_days")
        cur.execute("SELECT count(*) FROM moods.hug_days")
        hugs = cur.fetchone()[0]
    conn.close()
    return {
        "days": days,
        "entries": rows,
        "hug_days": hugs,
        "tags": len(TAGS),
        "seed_s": round(time.perf_counter() - started, 2),
    }


# ---- the raw computation ----------------------------------------------------------------------


def raw_statements() -> tuple[str, str]:
    """The service's two statements, compiled for psycopg2."""
    from sqlalchemy.dialects.postgresql import psycopg2 as pg_dialect

    from services.mood.service.days import ENTRIES, HUGS

    dialect = pg_dialect.dialect()
    return str(ENTRIES.compile(dialect=dialect)), str(HUGS.compile(dialect=dialect))


def raw(conn, statements: tuple[str, str], owner: uuid.UUID, what: str, period: str = "all") -> Any:
    """The endpoint's computation without HTTP, Flask or SQLAlchemy: SQL, then numpy/scipy."""
    from services.mood.service.correlations import compare
    from services.mood.service.days import group_days, since
    from services.mood.service.patterns import describe

    bound = {"user_id": owner, "tz": TIMEZONE, "since": since(period)}
    with conn.cursor() as cur:
        cur.execute(statements[0], bound)
        cells = cur.fetchone()
        cur.execute(statements[1], bound)
        hugs = cur.fetchall()
    days = group_days(cells, hugs)
    return compare(days) if what == "correlations" else describe(days)


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_raw(conn, statements: tuple[str, str], owner: uuid.UUID, what: str, runs: int, period: str = "all") -> dict:
    times, cpu = [], cpu_now()
    for _ in range(runs):
        started = time.perf_counter()
        raw(conn, statements, owner, what, period)
        times.append(time.perf_counter() - started)
    return {
        "n": runs,
        "latency_ms": loadgen.summarize(times),
        "cpu_ms_per_run": round((cpu_now() - cpu) * 1000 / runs, 2),
    }


def bench_gateway(session: Session, token: str, path: str, rate: float, duration: float) -> dict[str, Any]:
    host = f"127.0.0.1:{session.settings.ports['gateway']}"
    status, body = common.http_json("GET", f"http://{host}{path}", token=token)
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}: {body}\n{session.fleet.log_tail('mood')}")
    args = loadgen_args(f"http://{host}{path}", rate, duration)
    args.header = [f"Authorization: Bearer {token}"]
    return metered(session, path, int(rate * (duration + args.warmup)), lambda: asyncio.run(loadgen.run(args)))


def bench_task(session: Session, owner: uuid.UUID, runs: int) -> dict[str, Any]:
    """The Celery task's body in this process, on the fleet's settings."""
    os.environ.update({k: v for k, v in session.fleet.env.items() if k.isupper()})
    from services.mood import tasks

    first = tasks.refresh_insights(str(owner))  # builds the app, fetches the time zone, creates the insights
    cpu, wall = [], []
    for _ in range(runs):
        c, w = cpu_now(), time.perf_counter()
        counts = tasks.refresh_insights(str(owner))
        cpu.append(cpu_now() - c)
        wall.append(time.perf_counter() - w)
    return {
        "n": runs,
        "first_run": first,
        "last_run": counts,
        "cpu_ms": loadgen.summarize(cpu),
        "wall_ms": loadgen.summarize(wall),
    }


# ---- the run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second through the gateway")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per endpoint")
    parser.add_argument("--runs", type=int, default=200, help="raw computations per endpoint")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--render", metavar="JSON")
    args = parser.parse_args()
    again = ["--render", args.render] if args.render else []
    return common.bench_main(settings(), lambda session: measure(session, args), render, argv=again)


def owner_token(fleet: common.Fleet, owner: uuid.UUID) -> str:
    """An hour's access token of the owner, signed with the fleet's auth key."""
    from services.auth.service import SigningKey
    from shared.testing import mint_token

    key = SigningKey.from_pem((fleet.tmp / "jwt-signing-key.pem").read_text())
    return mint_token(key.private_key, key.kid, subject=str(owner), lifetime=3600)


def connect(db_url: str):
    """A psycopg2 connection as the mood service's role."""
    import psycopg2
    import psycopg2.extras

    psycopg2.extras.register_uuid()
    conn = psycopg2.connect(
        db_url, user="hugmood_mood", options="-c search_path=moods", application_name="analyticsbench"
    )
    conn.autocommit = True
    return conn


def measure(session: Session, args: argparse.Namespace) -> int:
    s, fleet, results = session.settings, session.fleet, session.results()
    rng = random.Random(args.seed)
    db_url = common.fresh_database(s)
    common.flush_redis(s)
    owner = uuid.UUID(int=rng.getrandbits(128), version=4)
    log(f"seeding {args.years} years of daily entries for one owner ...")
    results["seed"] = seed(db_url, owner, args.years, rng)
    log(f"seeded: {results['seed']}")
    commands = fleet.start_procfile("auth", "user", "mood", "gateway")
    fleet.wait_ready("auth", "user", "mood", "gateway")
    results["config"] = {
        "years": args.years,
        "rate": args.rate,
        "duration_s": args.duration,
        "runs": args.runs,
        "commands": commands,
        "database": s.database,
        "redis": s.redis_url,
    }
    token = owner_token(fleet, owner)
    session.roots = fleet.roots("gateway", "mood", "user", "auth")
    conn = connect(db_url)
    statements = raw_statements()

    # the gateway answers what the raw computation answers
    status, body = common.http_json("GET", f"{s.url('gateway')}{PATHS['correlations']}", token=token)
    expected = raw(conn, statements, owner, "correlations")
    if status != 200 or body["factors"] != expected["factors"]:
        raise SystemExit(f"the gateway and the raw computation disagree: {status}")
    results["findings"] = [f["factor"] for f in body["factors"] if f["significant"]]

    for name, path in PATHS.items():
        through = bench_gateway(session, token, path, args.rate, args.duration)
        direct = metered(
            session, f"raw {name}", args.runs, lambda n=name: bench_raw(conn, statements, owner, n, args.runs)
        )
        results[name] = {"gateway": through, "raw": direct}
        log(f"{name}: gateway p99 {through['latency_ms']['p99']} ms, raw p99 {direct['latency_ms']['p99']} ms")

    task_runs = max(args.runs // 10, 5)
    results["insight_task"] = {
        "task": metered(session, "insight task", task_runs, lambda: bench_task(session, owner, task_runs)),
        "raw": bench_raw(conn, statements, owner, "correlations", task_runs, period="year"),
    }
    conn.close()
    results["targets"] = evaluate(results)
    return common.finish(session, results, render)


def evaluate(r: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in PATHS:
        g = r[name]["gateway"]
        bad = sum(g["errors"].values()) + sum(v for k, v in g["statuses"].items() if not k.startswith("2"))
        p99 = g["latency_ms"]["p99"]
        out[f"{name}_p99_ms"] = {"value": p99, "target": "<= 50 ms through the gateway", "met": bad == 0 and p99 <= 50}
    task = r["insight_task"]["task"]
    # this process's CPU per run (p99) plus PostgreSQL's for the task's statements (mean per run)
    cpu = (task["cpu_ms"]["p99"] + task["cpu_ms_per_request"].get("postgres", 0.0)) / 1000
    out["insight_task_cpu_s"] = {"value": round(cpu, 3), "target": "<= 1 s (task + PostgreSQL)", "met": cpu <= 1.0}
    return out


def render(r: dict[str, Any]) -> str:
    c, s = r["config"], r["seed"]
    lines = [
        "",
        common.heading("analytics benchmark", r),
        f"data: one owner, {s['days']} days, {s['entries']:,} entries, {s['tags']} tags, {s['hug_days']} hug days"
        f" (seed {s['seed_s']} s); findings passing FDR: {', '.join(r['findings']) or 'none'}",
        "",
        f"  {'':58}{'runs':>6}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}",
    ]
    for name, path in PATHS.items():
        g, d = r[name]["gateway"], r[name]["raw"]
        rows = [
            (f"GET {path.split('/analytics')[1]} via gateway @{c['rate']:g}/s", g["completed"], g["latency_ms"]),
            (f"   raw: psycopg2 + numpy/scipy ({d['cpu_ms_per_run']} ms CPU/run)", d["n"], d["latency_ms"]),
        ]
        for label, n, q in rows:
            lines.append(f"  {label:<58}{n:>6}{q['p50']:>9.2f}{q['p90']:>9.2f}{q['p99']:>9.2f}{q['p100']:>9.2f}")
        cpu = g["cpu_ms_per_request"]
        bad = sum(g["errors"].values()) + sum(v for k, v in g["statuses"].items() if not k.startswith("2"))
        lines.append(f"     statuses {g['statuses']}, errors {g['errors']}" + ("  NOT ALL 2xx" if bad else ""))
        lines.append(
            f"     gateway run: CPU ms/request gateway {cpu.get('gateway', 0):.2f}, mood {cpu.get('mood', 0):.2f},"
            f" postgres {cpu.get('postgres', 0):.2f}; other load {g['background_cores']} cores;"
            f" p99 ratio gateway/raw {g['latency_ms']['p99'] / d['latency_ms']['p99']:.1f}x"
        )
    t = r["insight_task"]
    lines += [
        "",
        f"  insight task ({t['task']['n']} runs), CPU of this process:"
        f" p50 {t['task']['cpu_ms']['p50']:.1f} ms, p99 {t['task']['cpu_ms']['p99']:.1f} ms,"
        f" PostgreSQL {t['task']['cpu_ms_per_request'].get('postgres', 0):.1f} ms/run;"
        f" wall p99 {t['task']['wall_ms']['p99']:.1f} ms; raw year's correlations {t['raw']['cpu_ms_per_run']} ms CPU",
        "",
        "Targets",
    ]
    for name, v in r["targets"].items():
        lines.append(f"  {name:<24}{v['value']!s:>9}   target {v['target']:<34}{'MET' if v['met'] else 'MISSED'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
