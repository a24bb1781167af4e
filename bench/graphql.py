"""GraphQL benchmark: the "my received hugs with their senders" screen (20 hugs), three ways.

    .venv/bin/python bench/graphql.py [--rate 5] [--duration 10]
    .venv/bin/python bench/graphql.py --render bench/results/graphql-<timestamp>.json

One run, on a throw-away database (`hugmood_gqlbench`) and Redis db 10, with the gateway, the
GraphQL gateway, and the auth, user and hug services started from the Procfile (one worker each;
the gateway's limits out of reach, so the limiter runs on every request but never refuses):

  1. seed: a recipient open to hugs from anyone and 20 senders, one hug each, all through the
     gateway;
  2. for each way of drawing the screen, screens at a fixed rate, open loop (each screen starts on
     schedule whether or not the one before has finished; its latency counts from then), through
     the gateway, as the recipient:
     a. graphql: one POST /graphql, `hugsReceived(limit: 20) { ... sender { ... } }`;
     b. rest_1_plus_20: GET /api/v1/hugs/received?limit=20, then the 20 senders' profiles
        (GET /api/v1/users/{id}) at once, as a client with a connection pool would;
     c. rest_1_plus_1: the hugs, then one GET /api/v1/users?ids=<the 20>;
     with the fleet's CPU per screen (gateway, GraphQL gateway, services, PostgreSQL and Redis);
  3. prints a table, writes bench/results/graphql-<timestamp>.json, stops what it started and
     drops the database (unless BENCH_KEEP=1).

Targets (issue 18): GraphQL's p99 at most REST 1 + 20's, and its fleet CPU per screen at most
1.5 x REST 1 + 1's. Knobs: BENCH_GRAPHQL_PORT_BASE (14700), BENCH_GRAPHQL_REDIS_URL,
BENCH_GRAPHQL_DATABASE_NAME, BENCH_DATABASE_URL, BENCH_QUIET_WAIT, BENCH_KEEP. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/graphql.py`
    sys.path.insert(0, str(ROOT))

from bench import common, loadgen  # noqa: E402
from bench.common import HUGE, Session, Settings, log  # noqa: E402

HUGS = 20
SCREEN = (
    "{ hugsReceived(limit: 20) { id type typeLabel message createdAt sender { id username displayName avatarUrl } } }"
)
WAYS = ("graphql", "rest_1_plus_20", "rest_1_plus_1")
TARGETS = {"p99_vs_rest_1_plus_20": 1.0, "cpu_vs_rest_1_plus_1": 1.5}


def settings() -> Settings:
    return Settings.from_env(
        "GRAPHQL_",
        name="graphql",
        database="hugmood_gqlbench",
        redis_db=10,
        port_base=14700,
        ports=("gateway", "graphql", "auth", "user", "hug"),
        absent=("mood", "notification", "social"),
        env={
            "GATEWAY_WORKERS": "1",
            "AUTH_WORKERS": "1",
            "GATEWAY_RATE_LIMIT_PER_IP": HUGE,
            "GATEWAY_RATE_LIMIT_PER_USER": HUGE,
            "GATEWAY_AUTH_RATE_LIMIT": HUGE,
        },
    )


def register(gateway: str) -> tuple[str, str]:
    name = f"gb_{secrets.token_hex(4)}"
    status, body = common.http_json(
        "POST",
        gateway + "/api/v1/auth/register",
        {"username": name, "email": f"{name}@example.com", "password": secrets.token_urlsafe(18)},
    )
    if status != 201:
        raise SystemExit(f"register failed: {status} {body}")
    return body["user"]["id"], body["access_token"]


def seed(gateway: str) -> tuple[str, list[str]]:
    """The recipient's token, and the senders' ids of its 20 hugs."""
    recipient, token = register(gateway)
    status, body = common.http_json(
        "PUT", gateway + "/api/v1/users/me/privacy", {"allow_hugs_from": "anyone"}, token=token
    )
    if status != 200:
        raise SystemExit(f"privacy: {status} {body}")
    senders = []
    for _ in range(HUGS):
        sender, sender_token = register(gateway)
        status, body = common.http_json(
            "POST", gateway + "/api/v1/hugs", {"recipient_id": recipient, "type": "warm"}, token=sender_token
        )
        if status != 201:
            raise SystemExit(f"hug: {status} {body}")
        senders.append(sender)
    return token, senders


async def draw(client: Any, way: str) -> None:
    """One screen; raises on any answer but 200 or an incomplete screen."""
    if way == "graphql":
        response = await client.post("/graphql", json={"query": SCREEN})
        body = response.json()
        if response.status_code != 200 or "errors" in body or len(body["data"]["hugsReceived"]) != HUGS:
            raise RuntimeError(f"graphql: {response.status_code} {body}")
        return
    response = await client.get("/api/v1/hugs/received", params={"limit": HUGS})
    hugs = response.json()["items"]
    if response.status_code != 200 or len(hugs) != HUGS:
        raise RuntimeError(f"hugs: {response.status_code}")
    ids = [hug["sender_id"] for hug in hugs]
    if way == "rest_1_plus_1":
        users = await client.get("/api/v1/users", params={"ids": ",".join(ids)})
        if users.status_code != 200 or len(users.json()["items"]) != HUGS:
            raise RuntimeError(f"users: {users.status_code}")
        return
    answers = await asyncio.gather(*(client.get(f"/api/v1/users/{user_id}") for user_id in ids))
    if any(answer.status_code != 200 for answer in answers):
        raise RuntimeError("a profile read failed")


async def open_loop(gateway: str, token: str, way: str, rate: float, duration: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers, limits=limits, timeout=10.0) as client:
        for _ in range(3):  # warm-up: pools, token caches
            await draw(client, way)

        async def screen(at: float) -> None:
            await asyncio.sleep(max(at - time.perf_counter(), 0))
            try:
                await draw(client, way)
            except Exception as exc:  # noqa: BLE001 (every failure is counted, not raised)
                failures.append(repr(exc)[:200])
                return
            latencies.append(time.perf_counter() - at)

        start = time.perf_counter() + 0.1
        count = int(rate * duration)
        await asyncio.gather(*(screen(start + i / rate) for i in range(count)))
        wall = time.perf_counter() - start
    latencies.sort()
    return {
        "screens": count,
        "ok": len(latencies),
        "failures": len(failures),
        "failure_sample": failures[:3],
        "achieved_rate": round(len(latencies) / wall, 1),
        "latency_ms": loadgen.summarize(latencies),
    }


def measure(session: Session, args: argparse.Namespace) -> int:
    s, fleet = session.settings, session.fleet
    results = session.results()
    common.fresh_database(s)
    common.flush_redis(s)
    fleet.migrate()
    commands = fleet.start_procfile("auth", "user", "hug", "graphql", "gateway")
    fleet.wait_ready("auth", "user", "hug", "graphql", "gateway")
    gateway = s.url("gateway")
    token, senders = seed(gateway)
    log(f"seeded: 1 recipient, {len(senders)} hugs from {len(senders)} senders")
    session.roots = fleet.roots("gateway", "graphql", "auth", "user", "hug")
    results["config"] = {"rate": args.rate, "duration_s": args.duration, "hugs": HUGS, "commands": commands}
    ways: dict[str, Any] = {}
    for way in WAYS:
        quiet = session.settle(way)
        meter = session.meter()
        own = time.process_time()
        result = asyncio.run(open_loop(gateway, token, way, args.rate, args.duration))
        cpu = meter.stop(result["screens"])
        own = time.process_time() - own
        result.update(cpu, before=quiet, client_cpu_s=round(own, 3))
        fleet_cpu = sum(v for k, v in cpu["cpu_ms_per_request"].items())
        result["fleet_cpu_ms_per_screen"] = round(fleet_cpu, 2)
        q = result["latency_ms"]
        log(
            f"{way} @{args.rate:g}/s: p50 {q['p50']} ms p99 {q['p99']} ms, fleet CPU {fleet_cpu:.1f} ms/screen,"
            f" failures {result['failures']}, other load {cpu['background_cores']} cores"
        )
        ways[way] = result
    results["ways"] = ways
    results["ratios"] = {
        "p99_vs_rest_1_plus_20": _ratio(ways, "graphql", "rest_1_plus_20", lambda r: r["latency_ms"]["p99"]),
        "cpu_vs_rest_1_plus_1": _ratio(ways, "graphql", "rest_1_plus_1", lambda r: r["fleet_cpu_ms_per_screen"]),
    }
    results["targets"] = {
        name: {"target": TARGETS[name], "met": value is not None and value <= TARGETS[name]}
        for name, value in results["ratios"].items()
    }
    return common.finish(session, results, render)


def _ratio(ways: dict[str, Any], a: str, b: str, value: Any) -> float | None:
    try:
        return round(value(ways[a]) / value(ways[b]), 3)
    except (TypeError, ZeroDivisionError):
        return None


def render(r: dict[str, Any]) -> str:
    lines = [common.heading("GraphQL screen benchmark", r), ""]
    lines.append(f"{'way':<16} {'p50 ms':>8} {'p99 ms':>8} {'fleet CPU ms/screen':>20} {'failures':>9}")
    for way, w in r["ways"].items():
        q = w["latency_ms"]
        lines.append(f"{way:<16} {q['p50']!s:>8} {q['p99']!s:>8} {w['fleet_cpu_ms_per_screen']:>20} {w['failures']:>9}")
    for name, ratio in r["ratios"].items():
        target = r["targets"][name]
        lines.append(f"{name}: {ratio} (target <= {target['target']}: {'met' if target['met'] else 'NOT met'})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=5.0, help="screens per second (open loop)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per way")
    parser.add_argument("--render", metavar="JSON", help="re-print the table of a saved run")
    args = parser.parse_args()
    return common.bench_main(
        settings(),
        lambda session: measure(session, args),
        render,
        argv=["--render", args.render] if args.render else [],
    )


if __name__ == "__main__":
    sys.exit(main())
