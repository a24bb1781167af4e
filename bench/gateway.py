"""`make bench`: the gateway against a direct call and an nginx proxy_pass, side by side.

One run starts its own little fleet (the auth service and the gateway, with the Procfile's
commands, plus an nginx built from a generated config), all on a throw-away PostgreSQL database and
Redis db 9, and measures on `GET /api/v1/auth/me` with a real access token:

  1. max throughput (wrk) direct / through nginx / through the gateway;
  2. latency at a fixed 500 req/s (open loop, bench/loadgen.py: wrk2 is not packaged for Debian 12,
     and one generator everywhere keeps runs on different machines comparable);
  3. the gateway's CPU time per request (master + workers, from /proc);
  4. the cost of the gateway's rate-limit + denylist check against a raw Redis INCR, and an
     over-admission test of the limiter under 64 concurrent clients;
  5. /me p99 through the gateway while idle and while 60 logins/s go through it too.

It prints a table, writes bench/results/gateway-<timestamp>.json and stops everything it started.
It installs nothing: wrk and nginx must be on PATH (Debian: apt-get install -y wrk nginx).

Knobs (environment): BENCH_DATABASE_URL (admin URL of the PostgreSQL server,
default postgresql://postgres@127.0.0.1:5432/postgres), BENCH_DATABASE_NAME (hugmood_bench),
BENCH_REDIS_URL (redis://127.0.0.1:6379/9; the db is flushed), BENCH_PORT_BASE (14400: gateway,
+1 auth, +2 nginx), BENCH_DURATION (seconds per measurement, 10), BENCH_CONNECTIONS (64),
BENCH_AUTH_WORKERS (2), BENCH_GATEWAY_WORKERS (2), BENCH_QUIET_WAIT (10), BENCH_RETRIES (1),
BENCH_KEEP=1 (keep the temp dir and database). See docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/gateway.py`
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.common import HUGE, Session, Settings, env_float, env_int, log  # noqa: E402
from bench.loadgen import PERCENTILES, percentile  # noqa: E402

ME = "/api/v1/auth/me"
TARGETS = {
    "throughput_ratio": 0.40,
    "throughput_ratio_stretch": 0.50,
    "added_p50_ms": 1.0,
    "limiter_ratio": 1.3,
    "over_admissions": 0,
    "login_p99_ratio": 1.2,
}
DURATION = env_float("BENCH_DURATION", 10.0)
CONNECTIONS = env_int("BENCH_CONNECTIONS", 64)
WRK_THREADS = 2
WARMUP = 1.0
FIXED_RATE = 500
ROUNDS = 2  # each path is measured in this many turns, interleaved with the others
LIMITER_N = 20_000
LOGIN_PROBE_RATE = 100
LOGIN_RATE = 60
LOGIN_CONNECTIONS = 16
AUTH_WORKERS = env_int("BENCH_AUTH_WORKERS", 2)
AUTH_THREADS = env_int("BENCH_AUTH_THREADS", 16)  # the Procfile default
GATEWAY_WORKERS = env_int("BENCH_GATEWAY_WORKERS", 2)
ALL_PARTS = ("throughput", "latency", "limiter", "logins")
# a subset (e.g. BENCH_PARTS=logins) is for iterating on one number: it saves the JSON, skips the table
PARTS = tuple(p for p in os.environ.get("BENCH_PARTS", ",".join(ALL_PARTS)).split(",") if p in ALL_PARTS)


def settings() -> Settings:
    """The auth service and the gateway in front of it, the gateway's limits out of reach (so the
    limiter runs on every request but never says no), and an nginx beside it."""
    return Settings.from_env(
        "",
        name="gateway",
        database="hugmood_bench",
        redis_db=9,
        port_base=14400,
        ports=("gateway", "auth", "nginx"),
        absent=("user", "mood", "hug", "notification", "social"),
        tools=(("wrk", "wrk"), ("nginx", "nginx")),
        env={
            "AUTH_WORKERS": str(AUTH_WORKERS),
            "AUTH_THREADS": str(AUTH_THREADS),
            "GATEWAY_WORKERS": str(GATEWAY_WORKERS),
            "GATEWAY_RATE_LIMIT_PER_IP": HUGE,
            "GATEWAY_RATE_LIMIT_PER_USER": HUGE,
            "GATEWAY_AUTH_RATE_LIMIT": HUGE,
        },
    )


NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {tmp}/nginx-access.log combined buffer=64k flush=1s;
{temp_paths}
    keepalive_requests 1000000;
    upstream auth {{
        server 127.0.0.1:{auth_port};
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 4s;  # below gunicorn's keepalive (5 s): nginx closes idle ones first
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@dataclass
class Client:
    """The bench's user, its token, and the three ways to its /me."""

    username: str
    password: str
    token: str
    urls: dict[str, str]  # direct, nginx, gateway
    login_urls: dict[str, str]  # direct, gateway

    @property
    def auth_header(self) -> list[str]:
        return [f"Authorization: Bearer {self.token}"]


# ---- wrk (closed loop, max throughput) --------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(session: Session, url: str, token: str, duration: float) -> dict[str, Any]:
    argv = [
        common.which("wrk"),
        f"-t{WRK_THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration:g}s",
        "--timeout",
        "5s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    out, spread = run_sampling_spread(session, argv, sample_after=min(1.5, duration / 2), timeout=duration + 30)
    result: dict[str, Any] = {"raw": out, "conn_spread": spread}
    match = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    result["requests"] = int(match.group(1)) if match else 0
    result["seconds"] = _ms(match.group(2) + match.group(3)) / 1000 if match else duration
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(match.group(1)) if match else 0.0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(g) for g in match.groups()) if match else 0
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        result[f"p{pct}_ms"] = round(_ms(match.group(1)), 3) if match else None
    return result


# ---- loadgen (open loop, fixed rate) ----------------------------------------------------------


def loadgen_argv(
    url: str,
    rate: float,
    duration: float,
    *,
    headers: list[str],
    warmup: float = 1.0,
    body: str | None = None,
    connections: int = 32,
    grace: float = 5.0,
) -> list[str]:
    argv = [sys.executable, str(common.BENCH / "loadgen.py"), "--url", url, "--rate", str(rate)]
    argv += ["--duration", str(duration), "--warmup", str(warmup), "--connections", str(connections)]
    argv += ["--grace", str(grace)]
    for header in headers:
        argv += ["-H", header]
    if body is not None:
        argv += ["--method", "POST", "--body", body]
    return argv


def loadgen(
    session: Session,
    url: str,
    rate: float,
    duration: float,
    *,
    headers: list[str],
    warmup: float = 1.0,
    samples: bool = False,
) -> dict[str, Any]:
    argv = loadgen_argv(url, rate, duration, headers=headers, warmup=warmup) + (["--samples"] if samples else [])
    out, spread = run_sampling_spread(session, argv, sample_after=warmup + 1.0, timeout=warmup + duration + 60)
    return {**json.loads(out), "conn_spread": spread}


def run_sampling_spread(
    session: Session, argv: list[str], *, sample_after: float, timeout: float
) -> tuple[str, dict[str, list[int]]]:
    """Run a load tool; while it runs, note how its connections spread over the server's workers."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(sample_after)
        spread = {
            "auth_workers": common.conn_spread(session.settings.ports["auth"]),
            "gateway_workers": common.conn_spread(session.settings.ports["gateway"]),
        }
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv, out, err)
    return out, spread


def _merge_cpu(parts: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    """Sum the CpuMeter readings of several slices of one measurement."""
    cpu_s: dict[str, float] = {}
    for part in parts:
        for k, v in part["cpu_s"].items():
            cpu_s[k] = cpu_s.get(k, 0.0) + v
    wall = sum(p["wall_s"] for p in parts) or 1.0
    return {
        "cpu_s": {k: round(v, 3) for k, v in cpu_s.items()},
        "cpu_ms_per_request": {k: round(v * 1000 / max(requests, 1), 3) for k, v in cpu_s.items()},
        "machine_busy_cores": round(sum(p["machine_busy_cores"] * p["wall_s"] for p in parts) / wall, 2),
        "background_cores": round(sum(p["background_cores"] * p["wall_s"] for p in parts) / wall, 2),
        "wall_s": round(wall, 2),
    }


def combine_wrk(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One throughput figure from the rounds of one path: total requests over total seconds."""
    requests = sum(p["requests"] for p in parts)
    seconds = sum(p["seconds"] for p in parts) or 1.0
    weights = [p["requests"] / max(requests, 1) for p in parts]
    out: dict[str, Any] = {
        "rps": round(requests / seconds, 1),
        "requests": requests,
        "seconds": round(seconds, 2),
        "non_2xx": sum(p["non_2xx"] for p in parts),
        "socket_errors": sum(p["socket_errors"] for p in parts),
        # wrk's percentiles cannot be merged exactly: request-weighted mean of the rounds'
        "p50_ms": round(sum(w * (p["p50_ms"] or 0) for w, p in zip(weights, parts, strict=True)), 2),
        "p99_ms": round(sum(w * (p["p99_ms"] or 0) for w, p in zip(weights, parts, strict=True)), 2),
        "rounds": [
            {
                k: v
                for k, v in p.items()
                if k in ("rps", "requests", "p50_ms", "p99_ms", "background_cores", "before", "conn_spread")
            }
            for p in parts
        ],
        "raw_wrk": [p["raw"] for p in parts],
    }
    out.update(_merge_cpu(parts, requests))
    return out


def combine_loadgen(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One latency distribution from the rounds of one path (their samples pooled)."""
    samples = sorted(x for p in parts for x in p.pop("samples_ms"))
    service = sorted(x for p in parts for x in p.pop("service_samples_ms"))
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    completed = sum(p["completed"] for p in parts)
    out: dict[str, Any] = {
        "offered_rate": parts[0]["offered_rate"],
        "scheduled": sum(p["scheduled"] for p in parts),
        "completed": completed,
        "achieved_rate": round(sum(p["achieved_rate"] or 0 for p in parts) / len(parts), 1),
        "statuses": statuses,
        "errors": errors,
        "latency_ms": loadgen_summary(samples),
        "service_ms": loadgen_summary(service),
        "rounds": [
            {
                k: v
                for k, v in p.items()
                if k in ("achieved_rate", "latency_ms", "background_cores", "before", "conn_spread")
            }
            for p in parts
        ],
    }
    out.update(_merge_cpu(parts, sum(int(p["offered_rate"] * (p["duration_s"] + 0.5)) for p in parts)))
    return out


def loadgen_summary(sorted_ms: list[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {f"p{p:g}": percentile(sorted_ms, p) for p in PERCENTILES}
    out["mean"] = round(sum(sorted_ms) / len(sorted_ms), 3) if sorted_ms else None
    return out


# ---- 4. the rate-limit check against a raw INCR -----------------------------------------------


def bench_limiter(redis_url: str, n: int, chunks: int = 40) -> dict[str, Any]:
    import redis

    from shared.auth import Denylist
    from shared.ratelimit import Limiter

    client = redis.Redis.from_url(redis_url)
    limiter = Limiter(client, window=60)
    claims = {"sub": str(uuid.uuid4()), "jti": uuid.uuid4().hex, "fam": str(uuid.uuid4()), "iat": int(time.time())}
    authed = [("ip:127.0.0.1", int(HUGE)), (f"user:{claims['sub']}", int(HUGE))]
    raw_key = "hm:rl:bench:raw"
    # The exact EVALSHA the full check sends, without Limiter's Python around it.
    Denylist(client).mark_ready()  # as the auth service does: without it every token check is refused
    now = int(time.time())
    keys, args = limiter.script_input(authed, claims, now - now % limiter.window)
    sha = limiter.script.sha or client.script_load(limiter.script.script)

    variants = {
        "raw_incr": lambda: client.execute_command("INCR", raw_key),  # client.incr() would send INCRBY
        "limiter_check_authenticated": lambda: limiter.check(authed, claims),
        "raw_evalsha_same_script": lambda: client.evalsha(sha, len(keys), *keys, *args),
    }
    commands = {
        "raw_incr": "incr",
        "limiter_check_authenticated": "evalsha",
        "raw_evalsha_same_script": "evalsha",
    }
    for fn in variants.values():  # warm up connection, script cache, code paths
        for _ in range(1000):
            fn()
    # N calls per variant, in `chunks` interleaved slices (A B C D A B C D ...), so that a burst of
    # other load on the machine hits every variant alike instead of skewing the ratio.
    per_chunk = n // chunks
    elapsed: dict[str, float] = dict.fromkeys(variants, 0.0)
    cpu: dict[str, float] = dict.fromkeys(variants, 0.0)
    chunk_us: dict[str, list[float]] = {name: [] for name in variants}
    server: dict[str, list[int]] = {name: [0, 0] for name in variants}  # calls, usec
    for _ in range(chunks):
        for name, fn in variants.items():
            before = _cmdstat(client, commands[name])
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(per_chunk):
                fn()
            took = time.perf_counter() - started
            cpu[name] += time.process_time() - cpu_started
            after = _cmdstat(client, commands[name])
            elapsed[name] += took
            chunk_us[name].append(took / per_chunk * 1e6)
            if before and after:
                server[name][0] += after[0] - before[0]
                server[name][1] += after[1] - before[1]
    calls = per_chunk * chunks
    per_call = {name: round(elapsed[name] / calls * 1e6, 2) for name in variants}

    def chunk_ratio(name: str) -> float:
        return round(statistics.median(a / b for a, b in zip(chunk_us[name], chunk_us["raw_incr"], strict=True)), 2)

    result: dict[str, Any] = {
        "n": calls,
        "chunks": chunks,
        "per_call_us": per_call,
        "per_call_us_best_chunk": {k: round(min(v), 2) for k, v in chunk_us.items()},
        "client_cpu_us_per_call": {k: round(v / calls * 1e6, 2) for k, v in cpu.items()},
        "redis_server_us_per_call": {k: round(v[1] / v[0], 2) if v[0] > 0 else None for k, v in server.items()},
        "ratio_authenticated": round(per_call["limiter_check_authenticated"] / per_call["raw_incr"], 2),
        "ratio_authenticated_chunk_median": chunk_ratio("limiter_check_authenticated"),
        "ratio_bare_evalsha": round(per_call["raw_evalsha_same_script"] / per_call["raw_incr"], 2),
    }
    client.close()
    return result


def _cmdstat(client, command: str) -> tuple[int, int] | None:
    """(calls, usec) of one command from INFO commandstats (read-only; no RESETSTAT on a shared server)."""
    with contextlib.suppress(Exception):
        stat = client.info("commandstats").get(f"cmdstat_{command}")
        return int(stat["calls"]), int(stat["usec"])
    return None


def over_admission(redis_url: str, limit: int, clients: int = 64) -> dict[str, Any]:
    """`clients` threads, each with its own connection, send 2*limit checks at one bucket."""
    import redis

    from shared.ratelimit import Limiter

    bucket = f"bench:overadmit:{uuid.uuid4().hex}"
    total = 2 * limit
    shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    admitted = [0] * clients
    denied = [0] * clients
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client_thread(i: int) -> None:
        conn = redis.Redis.from_url(redis_url)
        limiter = Limiter(conn, window=60)
        conn.ping()
        barrier.wait()
        try:
            for _ in range(shares[i]):
                if limiter.check([(bucket, limit)], None).allowed:
                    admitted[i] += 1
                else:
                    denied[i] += 1
        except Exception as exc:  # reported, not hidden
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    check = redis.Redis.from_url(redis_url)
    counted = int(check.get(f"hm:rl:{bucket}") or 0)
    ttl = check.ttl(f"hm:rl:{bucket}")
    check.close()
    return {
        "limit": limit,
        "clients": clients,
        "calls": total,
        "admitted": sum(admitted),
        "denied": sum(denied),
        "over_admitted": sum(admitted) - limit,
        "redis_counter": counted,
        "bucket_ttl_after_s": ttl,
        "elapsed_s": round(elapsed, 3),
        "within_one_window": elapsed < 60,
        "errors": errors,
    }


# ---- the run ----------------------------------------------------------------------------------


# ---- the run ----------------------------------------------------------------------------------


def main() -> int:
    return common.bench_main(settings(), measure, render)


def measure(session: Session) -> int:
    s, fleet = session.settings, session.fleet
    results = session.results(tools=("wrk", "nginx"))
    log(f"machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}; temp dir {session.tmp}")

    # -- setup: database, Redis db, processes
    common.fresh_database(s)
    common.flush_redis(s)
    fleet.migrate("auth")
    commands = fleet.start_procfile("auth")
    fleet.wait_ready("auth", path="/healthz")
    commands |= fleet.start_procfile("gateway")
    fleet.wait_ready("gateway")
    conf = NGINX_CONF.format(
        user=fleet.nginx_user(),
        tmp=session.tmp,
        temp_paths=fleet.nginx_temp_paths("nginx"),
        auth_port=s.ports["auth"],
        port=s.ports["nginx"],
    )
    fleet.start_nginx("nginx", conf)
    fleet.wait_ready("nginx", path="/healthz")
    results["config"] = {
        "auth": commands["auth"],
        "gateway": commands["gateway"],
        "nginx": "1 worker, upstream keepalive 64, HTTP/1.1, access log buffered",
        "auth_workers": AUTH_WORKERS,
        "auth_threads": AUTH_THREADS,
        "gateway_workers": GATEWAY_WORKERS,
        "rate_limits": "GATEWAY_RATE_LIMIT_PER_IP/PER_USER/AUTH_RATE_LIMIT=1e8 (limiter runs, never rejects)",
        "log_level": "INFO (JSON access logs to a file, as in production)",
        "prometheus": "multiprocess mode (PROMETHEUS_MULTIPROC_BASE set, as make run does)",
        "redis": s.redis_url,
        "database": s.database,
        "duration_s": DURATION,
        "warmup_s": WARMUP,
        "connections": CONNECTIONS,
        "wrk_threads": WRK_THREADS,
        "fixed_rate": FIXED_RATE,
        "rounds": ROUNDS,
        "login_probe_rate": LOGIN_PROBE_RATE,
        "login_rate": LOGIN_RATE,
        "login_connections": LOGIN_CONNECTIONS,
    }
    log("fleet up: " + ", ".join(f"{n} :{p}" for n, p in s.ports.items()) + f" (logs in {session.tmp})")

    client = register(s)
    session.roots = fleet.roots("auth", "gateway", "nginx")
    rpid = common.redis_server_pid(s.redis_url)
    if rpid:
        session.roots["redis"] = rpid

    if PARTS != ALL_PARTS:
        return run_parts(session, results, client)

    # -- 1 + 3. max throughput, with CPU per request
    results["throughput"] = throughput = max_throughput(session, client)
    # -- 2. latency at a fixed rate (and CPU per request at that rate)
    results["latency_fixed_rate"] = latency = fixed_rate_latency(session, client)
    results["gateway_cpu_ms_per_request"] = {
        "at_max_throughput": throughput["gateway"]["cpu_ms_per_request"]["gateway"],
        f"at_{FIXED_RATE}_rps": latency["gateway"]["cpu_ms_per_request"]["gateway"],
        "nginx_at_max_throughput": throughput["nginx"]["cpu_ms_per_request"]["nginx"],
        "auth_direct_at_max_throughput": throughput["direct"]["cpu_ms_per_request"]["auth"],
    }

    # -- 4. the rate-limit check
    log(f"rate-limit check: {LIMITER_N} calls per variant, interleaved; then over-admission ...")
    session.settle("rate-limit check")
    limiter = bench_limiter(s.redis_url, LIMITER_N)
    limiter["over_admission"] = [over_admission(s.redis_url, limit) for limit in (100, 1000)]
    results["rate_limit"] = limiter
    log(
        f"limiter {limiter['per_call_us']} µs/call, ratio {limiter['ratio_authenticated']}x; over-admitted "
        + ", ".join(f"{o['over_admitted']} (L={o['limit']})" for o in limiter["over_admission"])
    )

    # -- 5. login bursts: through the gateway (the target), then direct (to see whose queue it is), for a
    # shorter look: only to see whether the queue is the auth service's own
    results["login_bursts"] = {
        "gateway": login_bursts(session, client, "gateway", DURATION),
        "direct": login_bursts(session, client, "direct", DURATION / 2),
    }
    results["targets"] = evaluate(results)
    return common.finish(session, results, render)


def register(s: Settings) -> Client:
    """A user registered through the gateway, and its /me answering on all three paths."""
    gw = s.url("gateway")
    username = f"bench_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    status, body = common.http_json(
        "POST",
        gw + "/api/v1/auth/register",
        {"username": username, "email": f"{username}@example.com", "password": password},
    )
    if status != 201:
        raise SystemExit(f"register failed: {status} {body}")
    client = Client(
        username=username,
        password=password,
        token=body["access_token"],
        urls={
            name: s.url(port) + ME for name, port in (("direct", "auth"), ("nginx", "nginx"), ("gateway", "gateway"))
        },
        login_urls={
            name: s.url(port) + "/api/v1/auth/login" for name, port in (("direct", "auth"), ("gateway", "gateway"))
        },
    )
    for name, url in client.urls.items():
        status, body = common.http_json("GET", url, token=client.token)
        if status != 200 or body.get("username") != username:
            raise SystemExit(f"GET {ME} via {name} answered {status}: {body}")
    log(f"registered {username}; GET {ME} answers 200 direct, via nginx and via the gateway")
    return client


PATHS = ("direct", "nginx", "gateway")


def interleaved(
    session: Session, what: str, measure: Callable[[str], dict[str, Any]], describe: Callable[[dict[str, Any]], str]
) -> dict[str, list[dict[str, Any]]]:
    """Each path measured ROUNDS times, the paths taking turns, so that a slow drift of the machine's
    speed hits them alike; each measurement after settle(), and once more if other load disturbed it."""
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in PATHS}
    for round_no in range(1, ROUNDS + 1):
        for name in PATHS:
            label = f"{what} {name} round {round_no}"
            for attempt in (1, 2):
                quiet = session.settle(label)
                result = measure(name)
                result.update(before=quiet, attempt=attempt, round=round_no)
                if not session.retry_noisy(result, label):
                    break
            rounds[name].append(result)
            log(f"{what} {name:8s} round {round_no}: {describe(result)}")
    return rounds


def max_throughput(session: Session, client: Client) -> dict[str, Any]:
    """wrk per path, DURATION seconds in all, in ROUNDS turns; with CPU per request."""
    slice_s = DURATION / ROUNDS

    def measure(name: str) -> dict[str, Any]:
        wrk(session, client.urls[name], client.token, WARMUP)
        meter = session.meter()
        result = wrk(session, client.urls[name], client.token, slice_s)
        result.update(meter.stop(result["requests"]))
        return result

    def describe(result: dict[str, Any]) -> str:
        return (
            f"{result['rps']:7.1f} req/s  p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms"
            f"  non-2xx {result['non_2xx']}  socket errors {result['socket_errors']}"
            f"  CPU-ms/req {result['cpu_ms_per_request']}  other load {result['background_cores']} cores"
        )

    rounds = interleaved(session, "throughput", measure, describe)
    throughput = {name: combine_wrk(rounds[name]) for name in PATHS}
    direct_rps = throughput["direct"]["rps"] or 1.0
    for result in throughput.values():
        result["ratio_to_direct"] = round(result["rps"] / direct_rps, 3)
    return throughput


def fixed_rate_latency(session: Session, client: Client) -> dict[str, Any]:
    """bench/loadgen.py at FIXED_RATE per path, DURATION seconds in all, in ROUNDS turns; samples pooled."""
    slice_s = DURATION / ROUNDS

    def measure(name: str) -> dict[str, Any]:
        meter = session.meter()
        result = loadgen(
            session,
            client.urls[name],
            FIXED_RATE,
            slice_s,
            headers=client.auth_header,
            warmup=0.5,
            samples=True,
        )
        # the meter spans warm-up + measurement: requests = everything sent
        result.update(meter.stop(int(FIXED_RATE * (slice_s + 0.5))))
        return result

    def describe(result: dict[str, Any]) -> str:
        q = result["latency_ms"]
        return (
            f"achieved {result['achieved_rate']}/s  p50 {q['p50']} ms  p99 {q['p99']} ms"
            f"  statuses {result['statuses']}  errors {result['errors']}"
            f"  CPU-ms/req {result['cpu_ms_per_request']}  other load {result['background_cores']} cores"
        )

    rounds = interleaved(session, f"{FIXED_RATE}/s", measure, describe)
    latency: dict[str, Any] = {name: combine_loadgen(rounds[name]) for name in PATHS}
    for name in ("nginx", "gateway"):
        latency[f"added_{name}"] = {
            f"p{p}_ms": round(latency[name]["latency_ms"][f"p{p}"] - latency["direct"]["latency_ms"][f"p{p}"], 3)
            for p in (50, 90, 99)
        }
    return {"rate": FIXED_RATE, "generator": "bench/loadgen.py (open loop)", **latency}


def run_parts(session: Session, results: dict[str, Any], client: Client) -> int:
    """Only the sections named in BENCH_PARTS (those that need no other section's numbers)."""
    unsupported = set(PARTS) - {"limiter", "logins"}
    if unsupported:
        raise SystemExit(f"BENCH_PARTS: {sorted(unsupported)} run only in a full run")
    if "limiter" in PARTS:
        session.settle("rate-limit check")
        results["rate_limit"] = limiter = bench_limiter(session.settings.redis_url, LIMITER_N)
        log(f"limiter {limiter['per_call_us']} µs/call, ratio {limiter['ratio_authenticated']}x")
    if "logins" in PARTS:
        results["login_bursts"] = {"gateway": login_bursts(session, client, "gateway", DURATION)}
    results["elapsed_s"] = round(time.monotonic() - session.started, 1)
    path = session.save(results, f"-{'+'.join(PARTS)}")
    print(f"\nresults (BENCH_PARTS={','.join(PARTS)}, no table): {path.relative_to(ROOT)}  ({results['elapsed_s']} s)")
    return 0


def login_bursts(session: Session, client: Client, where: str, duration: float) -> dict[str, Any]:
    """/me p99 at LOGIN_PROBE_RATE while idle, then while LOGIN_RATE logins/s go the same way.

    Logins are sent open loop at LOGIN_RATE over LOGIN_CONNECTIONS connections: like that many
    clients at once. What the auth service cannot take queues in the load generator (counted, and
    given up on at the end) rather than piling up in the fleet and spilling into the next phase."""
    me_url, auth_header = client.urls[where], client.auth_header
    quiet_idle = session.settle(f"login bursts {where} (idle)")
    meter = session.meter()
    idle = loadgen(session, me_url, LOGIN_PROBE_RATE, duration, headers=auth_header)
    idle.update(meter.stop(int(LOGIN_PROBE_RATE * (duration + 1.0))))
    idle["before"] = quiet_idle
    body = json.dumps({"username": client.username, "password": client.password})
    login_argv = loadgen_argv(
        client.login_urls[where],
        LOGIN_RATE,
        duration + 2.0,
        headers=["Content-Type: application/json"],
        warmup=1.0,
        body=body,
        connections=LOGIN_CONNECTIONS,
        grace=2.0,
    )
    quiet_loaded = session.settle(f"login bursts {where} (with logins)")
    meter = session.meter()
    logins = session.fleet.track(subprocess.Popen(login_argv, stdout=subprocess.PIPE, text=True))
    try:
        time.sleep(1.5)  # logins at full rate before the probe starts
        loaded = loadgen(session, me_url, LOGIN_PROBE_RATE, duration, headers=auth_header, warmup=0.5)
        login_result = json.loads(logins.communicate(timeout=duration + 60)[0])
    finally:
        if logins.poll() is None:
            logins.kill()
    cpu = meter.stop(1)
    ratio = round(loaded["latency_ms"]["p99"] / idle["latency_ms"]["p99"], 2)
    log(
        f"login bursts ({where}): /me p99 idle {idle['latency_ms']['p99']} ms, with {LOGIN_RATE} logins/s"
        f" {loaded['latency_ms']['p99']} ms ({ratio}x); logins {login_result['statuses']} at"
        f" {login_result['achieved_rate']}/s, p50 {login_result['latency_ms']['p50']} ms"
        f" p99 {login_result['latency_ms']['p99']} ms; machine {cpu['machine_busy_cores']} cores busy"
    )
    return {
        "probe_rate": LOGIN_PROBE_RATE,
        "login_rate": LOGIN_RATE,
        "duration_s": duration,
        "idle": idle,
        "loaded": loaded,
        "logins": login_result,
        "p99_ratio": ratio,
        "cpu_during_logins": {k: v for k, v in cpu.items() if k != "cpu_ms_per_request"},
        "before_loaded": quiet_loaded,
    }


def evaluate(r: dict[str, Any]) -> dict[str, Any]:
    ratio = r["throughput"]["gateway"]["ratio_to_direct"]
    added_p50 = r["latency_fixed_rate"]["added_gateway"]["p50_ms"]
    lim_ratio = r["rate_limit"]["ratio_authenticated"]
    over = sum(max(o["over_admitted"], 0) for o in r["rate_limit"]["over_admission"])
    exact = all(o["admitted"] == o["limit"] and not o["errors"] for o in r["rate_limit"]["over_admission"])
    login_ratio = r["login_bursts"]["gateway"]["p99_ratio"]
    return {
        "throughput_ratio": {"value": ratio, "target": ">= 0.40x direct", "met": ratio >= TARGETS["throughput_ratio"]},
        "throughput_ratio_stretch": {
            "value": ratio,
            "target": ">= 0.50x direct",
            "met": ratio >= TARGETS["throughput_ratio_stretch"],
        },
        "added_p50_ms": {
            "value": added_p50,
            "target": f"<= 1.0 ms at {FIXED_RATE}/s",
            "met": added_p50 <= TARGETS["added_p50_ms"],
            **_overload_note(r["latency_fixed_rate"]),
        },
        "limiter_ratio": {"value": lim_ratio, "target": "<= 1.3x INCR", "met": lim_ratio <= TARGETS["limiter_ratio"]},
        "over_admissions": {"value": over, "target": "0 (admitted == L)", "met": over == 0 and exact},
        "login_p99_ratio": {
            "value": login_ratio,
            "target": "<= 1.2x idle p99",
            "met": login_ratio <= TARGETS["login_p99_ratio"],
        },
    }


def _overload_note(lat: dict[str, Any]) -> dict[str, str]:
    """A note when the direct path itself did not keep up with the fixed rate: every path then
    queued for the whole measurement, and the added latency measures the overload, not the gateway."""
    achieved = lat["direct"]["achieved_rate"] or 0
    if achieved >= 0.95 * lat["rate"]:
        return {}
    return {"note": f"not measurable here: the direct path itself achieved only {achieved:g}/s"}


def spread(x: dict[str, Any]) -> str:
    """The auth connections per gunicorn worker seen in each round, e.g. "51/13 40/24"."""
    return " ".join("/".join(map(str, rd.get("conn_spread", {}).get("auth_workers", []))) or "?" for rd in x["rounds"])


def render(r: dict[str, Any]) -> str:
    c = r["config"]
    t = r["throughput"]
    lines = [
        "",
        common.heading("gateway benchmark", r),
        f"auth: {c['auth_workers']} gthread workers x {c['auth_threads']} threads;"
        f" gateway: {c['gateway_workers']} gevent workers; nginx: 1 worker, keepalive upstream; all on this machine",
        "",
        f"1. Max throughput, GET {ME} (wrk -t{c['wrk_threads']} -c{c['connections']}, bearer token;"
        f" {c['duration_s']:g} s per path in {c['rounds']} interleaved rounds)",
        f"  {'path':<9}{'req/s':>8}{'x direct':>9}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
        f"  {'CPU-ms/req: proxy':>17}{'auth':>6}{'redis':>6}{'pg':>6}{'wrk':>6}{'  other load':>12}"
        f"{'  auth conns/worker':>20}",
    ]
    for name in ("direct", "nginx", "gateway"):
        x = t[name]
        cpu = x["cpu_ms_per_request"]
        proxy = {"direct": "-", "nginx": f"{cpu['nginx']:.2f}", "gateway": f"{cpu['gateway']:.2f}"}[name]
        lines.append(
            f"  {name:<9}{x['rps']:>8.1f}{x['ratio_to_direct']:>9.2f}{x['p50_ms']:>8.1f}{x['p99_ms']:>8.1f}"
            f"{x['non_2xx'] + x['socket_errors']:>7}  {proxy:>17}{cpu['auth']:>6.2f}{cpu.get('redis', 0):>6.2f}"
            f"{cpu['postgres']:>6.2f}{cpu['loadtool']:>6.2f}{x['background_cores']:>8.2f} cpu{spread(x):>20}"
        )
    lat = r["latency_fixed_rate"]
    lines += [
        "",
        f"2. Latency at a fixed {lat['rate']} req/s (open loop, {c['duration_s']:g} s per path in {c['rounds']}"
        " interleaved rounds; from the scheduled send time)",
        f"  {'path':<9}{'achieved':>9}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'p99.9 ms':>9}{'errors':>7}"
        f"  {'CPU-ms/req: proxy':>17}{'auth':>6}{'  other load':>12}{'  auth conns/worker':>20}",
    ]
    for name in ("direct", "nginx", "gateway"):
        x = lat[name]
        bad = sum(x["errors"].values()) + sum(v for k, v in x["statuses"].items() if not k.startswith("2"))
        q = x["latency_ms"]
        cpu = x["cpu_ms_per_request"]
        proxy = {"direct": "-", "nginx": f"{cpu['nginx']:.2f}", "gateway": f"{cpu['gateway']:.2f}"}[name]
        lines.append(
            f"  {name:<9}{x['achieved_rate']:>9.1f}{q['p50']:>8.2f}{q['p90']:>8.2f}{q['p99']:>8.2f}{q['p99.9']:>9.2f}"
            f"{bad:>7}  {proxy:>17}{cpu['auth']:>6.2f}{x['background_cores']:>8.2f} cpu{spread(x):>20}"
        )
    for name in ("nginx", "gateway"):
        a = lat[f"added_{name}"]
        lines.append(
            f"  added by {name + ':':<9} p50 {a['p50_ms']:+.2f} ms, p90 {a['p90_ms']:+.2f} ms,"
            f" p99 {a['p99_ms']:+.2f} ms"
        )
    lb = r["login_bursts"]
    gi, di = lb["gateway"]["idle"]["latency_ms"], lb["direct"]["idle"]["latency_ms"]
    lines.append(
        f"  unsaturated, at {c['login_probe_rate']} req/s (the idle phases of 5.): direct p50/p99"
        f" {di['p50']:.2f}/{di['p99']:.2f} ms, gateway {gi['p50']:.2f}/{gi['p99']:.2f} ms:"
        f" added p50 {gi['p50'] - di['p50']:+.2f} ms, p99 {gi['p99'] - di['p99']:+.2f} ms"
    )
    g = r["gateway_cpu_ms_per_request"]
    lines += [
        "",
        f"3. Gateway CPU per request (master + workers, /proc utime+stime): {g['at_max_throughput']:.3f} ms at max"
        f" throughput, {g['at_' + str(lat['rate']) + '_rps']:.3f} ms at {lat['rate']}/s"
        f"  (nginx {g['nginx_at_max_throughput']:.3f} ms;"
        f" auth service itself {g['auth_direct_at_max_throughput']:.3f} ms)",
    ]
    lim = r["rate_limit"]
    pc = lim["per_call_us"]
    srv = lim["redis_server_us_per_call"]
    cc = lim["client_cpu_us_per_call"]
    lines += [
        "",
        f"4. Rate-limit check from one Python process, N={lim['n']} calls per variant"
        f" ({lim['chunks']} interleaved slices)",
        f"  {'':42}{'wall µs':>9}{'x INCR':>8}{'client CPU µs':>15}{'Redis server µs':>17}",
        f"  {'raw INCR':<42}{pc['raw_incr']:>9.1f}{1:>8.2f}{cc['raw_incr']:>15.1f}{srv['raw_incr'] or 0:>17.2f}",
    ]
    for key, label in (
        ("limiter_check_authenticated", "Limiter.check: 2 buckets + denylist (/me)"),
        ("raw_evalsha_same_script", "bare EVALSHA of the /me script"),
    ):
        lines.append(
            f"  {label:<42}{pc[key]:>9.1f}{pc[key] / pc['raw_incr']:>8.2f}{cc[key]:>15.1f}{srv[key] or 0:>17.2f}"
        )
    for o in lim["over_admission"]:
        lines.append(
            f"  over-admission: {o['clients']} threads, L={o['limit']}, {o['calls']} calls in {o['elapsed_s']} s:"
            f" admitted {o['admitted']}, over-admitted {o['over_admitted']}, counter {o['redis_counter']}"
            + (f", errors {len(o['errors'])}" if o["errors"] else "")
        )
    lines += [
        "",
        f"5. Login bursts: /me at {c['login_probe_rate']} req/s, idle vs while {c['login_rate']} logins/s are offered"
        f" ({c['login_connections']} login connections)",
        f"  {'path, s':<12}{'idle p50/p99 ms':>17}{'loaded p50/p99 ms':>22}{'p99 x':>9}"
        f"{'logins ok/offered':>19}{'done/s':>8}{'login p50 ms':>14}",
    ]
    for name in ("gateway", "direct"):
        b = r["login_bursts"][name]
        i, ld, lg = b["idle"]["latency_ms"], b["loaded"]["latency_ms"], b["logins"]
        ok = f"{lg['statuses'].get('200', 0)}/{lg['scheduled']}"
        lines.append(
            f"  {name + ', ' + format(b.get('duration_s', c['duration_s']), 'g'):<12}"
            f"{i['p50']:>8.1f}/{i['p99']:<8.1f}{ld['p50']:>12.1f}/{ld['p99']:<9.1f}{b['p99_ratio']:>9.1f}"
            f"{ok:>19}{lg['achieved_rate'] or 0:>8.1f}{lg['latency_ms']['p50']:>14.1f}"
        )
    lines += ["", "Targets"]
    for name, v in r["targets"].items():
        note = f"  ({v['note']})" if v.get("note") else ""
        lines.append(f"  {name:<26}{v['value']!s:>9}   target {v['target']:<24}{'MET' if v['met'] else 'MISSED'}{note}")
    phases = [(f"throughput {n}", t[n]) for n in t] + [(f"{lat['rate']}/s {n}", lat[n]) for n in t]
    phases += [(f"login-idle {n}", r["login_bursts"][n]["idle"]) for n in ("gateway", "direct")]
    noisy = [f"{label} ({x['background_cores']:.2f})" for label, x in phases if x["background_cores"] > 0.15]
    if noisy:
        lines.append(f"\n  NOISY: other load on the machine, in cores, during {', '.join(noisy)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
