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
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

ME = "/api/v1/auth/me"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {
    "throughput_ratio": 0.40,
    "throughput_ratio_stretch": 0.50,
    "added_p50_ms": 1.0,
    "limiter_ratio": 1.3,
    "over_admissions": 0,
    "login_p99_ratio": 1.2,
}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


ADMIN_URL = os.environ.get("BENCH_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = os.environ.get("BENCH_DATABASE_NAME") or "hugmood_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/9"
PORT_BASE = env_int("BENCH_PORT_BASE", 14400)
GATEWAY_PORT, AUTH_PORT, NGINX_PORT = PORT_BASE, PORT_BASE + 1, PORT_BASE + 2
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
AUTH_THREADS = int(os.environ.get("BENCH_AUTH_THREADS", "16"))  # the Procfile default
GATEWAY_WORKERS = env_int("BENCH_GATEWAY_WORKERS", 2)
HUGE = "100000000"  # rate limits: the limiter runs on every request but never says no
KEEP = os.environ.get("BENCH_KEEP") == "1"
ALL_PARTS = ("throughput", "latency", "limiter", "logins")
# a subset (e.g. BENCH_PARTS=logins) is for iterating on one number: it saves the JSON, skips the table
PARTS = tuple(p for p in os.environ.get("BENCH_PARTS", ",".join(ALL_PARTS)).split(",") if p in ALL_PARTS)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- preflight --------------------------------------------------------------------------------


def preflight() -> None:
    """Tools on PATH, PostgreSQL and Redis reachable, our ports free; else say how to fix it."""
    problems = []
    for tool, hint in (("wrk", "apt-get install -y wrk"), ("nginx", "apt-get install -y nginx")):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            problems.append(f"`{tool}` is not installed (Debian/Ubuntu: `{hint}`; macOS: `brew install {tool}`)")
    if not (VENV_BIN / "gunicorn").exists():
        problems.append(f"gunicorn is not in {VENV_BIN} (run `make install`)")
    for name, url, default_port in (("PostgreSQL", ADMIN_URL, 5432), ("Redis", REDIS_URL, 6379)):
        parts = urlsplit(url)
        if not _port_open(parts.hostname or "127.0.0.1", parts.port or default_port):
            problems.append(f"{name} is not reachable at {parts.hostname}:{parts.port or default_port}")
    for port in (GATEWAY_PORT, AUTH_PORT, NGINX_PORT):
        if _port_open("127.0.0.1", port):
            problems.append(f"port {port} is in use (set BENCH_PORT_BASE to move the bench fleet)")
    if problems:
        print("bench/gateway.py cannot run:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        sys.exit(2)


def _port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def which(tool: str) -> str:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or tool


# ---- the fleet --------------------------------------------------------------------------------


def procfile_command(name: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command line for `name`, ${VAR:-default} expanded from `env`."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            command = line.split(":", 1)[1].strip()
            command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), command)
            return shlex.split(command)
    raise SystemExit(f"Procfile has no `{name}` process")


NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {tmp}/nginx-access.log combined buffer=64k flush=1s;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
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


class Fleet:
    """The processes of one bench run, each in its own process group, logs in a temp dir."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GATEWAY_", "AUTH_", "ADMIN_", "PROMETHEUS_", "USER_", "MOOD_", "HUG_"))
            and not k.startswith(("NOTIFICATION_", "SOCIAL_", "DATABASE_", "REDIS_", "JWT_", "BIND_"))
        }
        key_file = self.tmp / "jwt-signing-key.pem"
        from services.auth.service import generate_private_key_pem

        key_file.write_text(generate_private_key_pem())
        key_file.chmod(0o600)
        (self.tmp / "prometheus").mkdir()
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            DATABASE_URL=replace_db(ADMIN_URL, DB_NAME),
            REDIS_URL=REDIS_URL,
            BIND_HOST="127.0.0.1",
            LOG_LEVEL="INFO",
            PROMETHEUS_MULTIPROC_BASE=str(self.tmp / "prometheus"),  # as `make run` does
            AUTH_JWT_PRIVATE_KEY_FILE=str(key_file),
            AUTH_PORT=str(AUTH_PORT),
            AUTH_WORKERS=str(AUTH_WORKERS),
            AUTH_THREADS=str(AUTH_THREADS),
            AUTH_URL=f"http://127.0.0.1:{AUTH_PORT}",
            GATEWAY_PORT=str(GATEWAY_PORT),
            GATEWAY_WORKERS=str(GATEWAY_WORKERS),
            GATEWAY_RATE_LIMIT_PER_IP=HUGE,
            GATEWAY_RATE_LIMIT_PER_USER=HUGE,
            GATEWAY_AUTH_RATE_LIMIT=HUGE,
        )
        # Services the gateway knows but this bench does not run: somewhere nothing listens.
        for offset, name in enumerate(("USER", "MOOD", "HUG", "NOTIFICATION", "SOCIAL"), start=10):
            env[f"{name}_URL"] = f"http://127.0.0.1:{PORT_BASE + offset}"
        return env

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_http(self, name: str, url: str, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"{name} did not get ready at {url} in {timeout:.0f}s:\n{self.log_tail(name)}")

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                # gunicorn: SIGQUIT = quick shutdown (SIGTERM would wait up to graceful_timeout=75 s);
                # nginx: SIGTERM = fast shutdown.
                sig = signal.SIGTERM if name == "nginx" else signal.SIGQUIT
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group (workers)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)


def replace_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def fresh_database() -> str:
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()
    return replace_db(ADMIN_URL, DB_NAME)


def drop_database() -> None:
    import psycopg2

    with contextlib.suppress(psycopg2.Error):
        conn = psycopg2.connect(ADMIN_URL)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.close()


def clean_up(tmp: Path) -> None:
    """Drop the bench's database, flush its Redis db and remove its temp dir, unless BENCH_KEEP=1.

    DB_NAME and REDIS_URL are this module's; the other benches set them to their own first.
    """
    if KEEP:
        log(f"kept {tmp} and database {DB_NAME}")
        return
    drop_database()
    with contextlib.suppress(Exception):
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    shutil.rmtree(tmp, ignore_errors=True)


# ---- /proc CPU accounting ---------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(comm, ppid, utime+stime seconds) of a process, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    comm = data[data.index("(") + 1 : data.rindex(")")]
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def _machine_busy() -> float:
    """CPU-seconds the whole machine has been busy (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cpu_snapshot(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of: each named process tree, this database's PostgreSQL backends, the
    load tools this script ran (wrk, loadgen: reaped children), and the machine as a whole."""
    parents: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    postgres = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        st = _stat(pid)
        if st is None:
            continue
        comm, ppid, seconds = st
        parents.setdefault(ppid, []).append(pid)
        cpu[pid] = seconds
        if comm.startswith("postgres"):
            with contextlib.suppress(OSError):
                if f" {DB_NAME} ".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    postgres += seconds
    out: dict[str, float] = {}
    for name, root in roots.items():
        total, stack = 0.0, [root]
        while stack:
            pid = stack.pop()
            if pid in cpu:
                total += cpu[pid]
                stack.extend(parents.get(pid, []))
        out[name] = total
    out["postgres"] = postgres
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["loadtool"] = usage.ru_utime + usage.ru_stime
    out["machine"] = _machine_busy()
    out["wall"] = time.monotonic()
    return out


class CpuMeter:
    """CPU time per process group between start() and stop(); what nobody here used is
    "background" (other work on the machine, e.g. someone else's test run: a noisy measurement)."""

    def __init__(self, roots: dict[str, int]):
        self.roots = roots
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = cpu_snapshot(self.roots)

    def stop(self, requests: int) -> dict[str, Any]:
        after = cpu_snapshot(self.roots)
        delta = {k: after[k] - self.before[k] for k in after}
        wall = delta.pop("wall")
        machine = delta.pop("machine")
        ours = sum(delta.values())
        requests = max(requests, 1)
        return {
            "cpu_s": {k: round(v, 3) for k, v in delta.items()},
            "cpu_ms_per_request": {k: round(v * 1000 / requests, 3) for k, v in delta.items()},
            "machine_busy_cores": round(machine / wall, 2),
            "background_cores": round(max(machine - ours, 0.0) / wall, 2),
            "wall_s": round(wall, 2),
        }


QUIET_BUDGET = {"left": env_float("BENCH_QUIET_WAIT", 10.0)}  # seconds this run may wait for others' load


def speed_probe() -> float:
    """Milliseconds for a fixed bit of pure-Python work (best of 3): if this moves between phases,
    the machine itself got slower or faster (e.g. a busy VM host), and so did everything measured."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


def settle(roots: dict[str, int], label: str) -> dict[str, float]:
    """Before a measurement: wait (bounded) until our fleet is idle and other load on the machine
    is low. Returns what was seen, so a noisy measurement is reported as such."""
    waited = 0.0
    while True:
        before = cpu_snapshot(roots)
        time.sleep(0.5)
        after = cpu_snapshot(roots)
        wall = after["wall"] - before["wall"]
        ours = sum(after[k] - before[k] for k in after if k not in ("machine", "wall"))
        other = max(after["machine"] - before["machine"] - ours, 0.0) / wall
        fleet = ours / wall
        waited += wall
        if (other < 0.15 and fleet < 0.2) or QUIET_BUDGET["left"] <= 0:
            break
        QUIET_BUDGET["left"] -= wall
    if waited > 1.5:
        log(f"{label}: waited {waited:.1f}s for a quiet machine (other load {other:.2f} cores, fleet {fleet:.2f})")
    return {
        "waited_s": round(waited, 1),
        "other_load_cores": round(other, 2),
        "fleet_cores": round(fleet, 2),
        "speed_probe_ms": speed_probe(),
    }


RETRIES = {"left": env_int("BENCH_RETRIES", 1)}  # measurements this run may repeat because of others' load
NOISE_LIMIT = 0.25  # cores of other load during a measurement that make it worth repeating


def retry_noisy(result: dict[str, Any], label: str) -> bool:
    """True (and one retry fewer left) if other load disturbed this measurement and it should be redone."""
    if result["background_cores"] <= NOISE_LIMIT or result.get("attempt", 1) > 1 or RETRIES["left"] <= 0:
        return False
    RETRIES["left"] -= 1
    log(f"{label}: {result['background_cores']} cores of other load during the measurement; measuring again")
    return True


def redis_server_pid(client) -> int | None:
    """The local redis-server's pid (for its CPU time), if it runs on this machine."""
    with contextlib.suppress(Exception):
        pid = int(client.info("server")["process_id"])
        if Path(f"/proc/{pid}/stat").exists() and "redis" in Path(f"/proc/{pid}/comm").read_text():
            return pid
    return None


# ---- HTTP helpers -----------------------------------------------------------------------------


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


# ---- wrk (closed loop, max throughput) --------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, token: str, duration: float) -> dict[str, Any]:
    argv = [
        which("wrk"),
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
    out, spread = run_sampling_spread(argv, sample_after=min(1.5, duration / 2), timeout=duration + 30)
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
    argv = [sys.executable, str(BENCH / "loadgen.py"), "--url", url, "--rate", str(rate)]
    argv += ["--duration", str(duration), "--warmup", str(warmup), "--connections", str(connections)]
    argv += ["--grace", str(grace)]
    for header in headers:
        argv += ["-H", header]
    if body is not None:
        argv += ["--method", "POST", "--body", body]
    return argv


def loadgen(
    url: str, rate: float, duration: float, *, headers: list[str], warmup: float = 1.0, samples: bool = False
) -> dict[str, Any]:
    argv = loadgen_argv(url, rate, duration, headers=headers, warmup=warmup) + (["--samples"] if samples else [])
    out, spread = run_sampling_spread(argv, sample_after=warmup + 1.0, timeout=warmup + duration + 60)
    return {**json.loads(out), "conn_spread": spread}


def run_sampling_spread(argv: list[str], *, sample_after: float, timeout: float) -> tuple[str, dict[str, list[int]]]:
    """Run a load tool; while it runs, note how its connections spread over the server's workers."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(sample_after)
        spread = {
            "auth_workers": conn_spread(AUTH_PORT),
            "gateway_workers": conn_spread(GATEWAY_PORT),
        }
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv, out, err)
    return out, spread


def conn_spread(port: int) -> list[int]:
    """Established connections per server process on a local port, most first (e.g. [51, 13]: one
    gunicorn worker got most of them, so it does most of the work while the other idles)."""
    try:
        out = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True
        ).stdout
    except OSError:
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


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
    from loadgen import PERCENTILES, percentile

    out: dict[str, float | None] = {f"p{p:g}": percentile(sorted_ms, p) for p in PERCENTILES}
    out["mean"] = round(sum(sorted_ms) / len(sorted_ms), 3) if sorted_ms else None
    return out


# ---- 4. the rate-limit check against a raw INCR -----------------------------------------------


def bench_limiter(n: int, chunks: int = 40) -> dict[str, Any]:
    import redis

    from gateway.ratelimit import Limiter
    from shared.auth import Denylist

    client = redis.Redis.from_url(REDIS_URL)
    limiter = Limiter(client, window=60)
    claims = {"sub": str(uuid.uuid4()), "jti": uuid.uuid4().hex, "fam": str(uuid.uuid4()), "iat": int(time.time())}
    authed = [("ip:127.0.0.1", int(HUGE)), (f"user:{claims['sub']}", int(HUGE))]
    raw_key = "hm:rl:bench:raw"
    # The exact EVALSHA the full check sends, without Limiter's Python around it.
    keys = [f"hm:rl:{name}" for name, _ in authed] + Denylist.keys_for(claims)
    args = [len(authed), 60, *(limit for _, limit in authed), claims["iat"]]
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


def over_admission(limit: int, clients: int = 64) -> dict[str, Any]:
    """`clients` threads, each with its own connection, send 2*limit checks at one bucket."""
    import redis

    from gateway.ratelimit import Limiter

    bucket = f"bench:overadmit:{uuid.uuid4().hex}"
    total = 2 * limit
    shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    admitted = [0] * clients
    denied = [0] * clients
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client_thread(i: int) -> None:
        conn = redis.Redis.from_url(REDIS_URL)
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
    check = redis.Redis.from_url(REDIS_URL)
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


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the code under test had local changes."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "gateway", "services", "shared", "Procfile")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(changed), "changed": changed.splitlines()}


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for tool, argv in (("wrk", ["wrk", "--version"]), ("nginx", ["nginx", "-v"])):
        with contextlib.suppress(OSError):
            proc = subprocess.run([which(argv[0]), *argv[1:]], capture_output=True, text=True)
            versions[tool] = (proc.stdout + proc.stderr).strip().splitlines()[0]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "tools": versions,
    }


def main() -> int:
    if sys.argv[1:2] == ["--render"]:  # re-print the table of a saved run
        print(render(json.loads(Path(sys.argv[2]).read_text())))
        return 0
    preflight()
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tmp = Path(tempfile.mkdtemp(prefix="hugmood-bench-"))
    fleet = Fleet(tmp)

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    # SIGINT too: a shell starting us in the background would otherwise leave it ignored
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        return run(fleet, tmp, stamp, started)
    finally:
        log("stopping the bench fleet")
        fleet.stop()
        clean_up(tmp)


def run(fleet: Fleet, tmp: Path, stamp: str, started: float) -> int:
    import redis

    results: dict[str, Any] = {"timestamp": stamp, "machine": machine(), "git": git_state()}
    log(f"machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}; temp dir {tmp}")

    # -- setup: database, Redis db, processes
    database_url = fresh_database()
    redis_client = redis.Redis.from_url(REDIS_URL)
    redis_client.flushdb()
    migrated = subprocess.run(
        [sys.executable, "-m", "shared.migrate", "upgrade", "auth"],
        cwd=ROOT,
        env={**fleet.env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
    )
    if migrated.returncode != 0:
        raise SystemExit(f"migrations failed:\n{migrated.stdout}{migrated.stderr}")
    auth_cmd = procfile_command("auth", {**fleet.env, "AUTH_PORT": str(AUTH_PORT)})
    gateway_cmd = procfile_command("gateway", fleet.env)
    fleet.start("auth", auth_cmd)
    fleet.wait_http("auth", f"http://127.0.0.1:{AUTH_PORT}/healthz")
    fleet.start("gateway", gateway_cmd)
    fleet.wait_http("gateway", f"http://127.0.0.1:{GATEWAY_PORT}/readyz")
    user = "" if os.geteuid() != 0 else "user root;\n"
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, auth_port=AUTH_PORT, port=NGINX_PORT))
    fleet.start("nginx", [which("nginx"), "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)])
    fleet.wait_http("nginx", f"http://127.0.0.1:{NGINX_PORT}/healthz")
    results["config"] = {
        "auth": " ".join(auth_cmd),
        "gateway": " ".join(gateway_cmd),
        "nginx": "1 worker, upstream keepalive 64, HTTP/1.1, access log buffered",
        "auth_workers": AUTH_WORKERS,
        "auth_threads": AUTH_THREADS,
        "gateway_workers": GATEWAY_WORKERS,
        "rate_limits": "GATEWAY_RATE_LIMIT_PER_IP/PER_USER/AUTH_RATE_LIMIT=1e8 (limiter runs, never rejects)",
        "log_level": "INFO (JSON access logs to a file, as in production)",
        "prometheus": "multiprocess mode (PROMETHEUS_MULTIPROC_BASE set, as make run does)",
        "redis": REDIS_URL,
        "database": DB_NAME,
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
    log(f"fleet up: auth :{AUTH_PORT}, gateway :{GATEWAY_PORT}, nginx :{NGINX_PORT} (logs in {tmp})")

    # -- a user and its access token
    gw = f"http://127.0.0.1:{GATEWAY_PORT}"
    username = f"bench_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    status, body = http_json(
        "POST",
        gw + "/api/v1/auth/register",
        {"username": username, "email": f"{username}@example.com", "password": password},
    )
    if status != 201:
        raise SystemExit(f"register failed: {status} {body}")
    token = body["access_token"]
    urls = {
        "direct": f"http://127.0.0.1:{AUTH_PORT}{ME}",
        "nginx": f"http://127.0.0.1:{NGINX_PORT}{ME}",
        "gateway": f"{gw}{ME}",
    }
    for name, url in urls.items():
        status, body = http_json("GET", url, token=token)
        if status != 200 or body.get("username") != username:
            raise SystemExit(f"GET {ME} via {name} answered {status}: {body}")
    log(f"registered {username}; GET {ME} answers 200 direct, via nginx and via the gateway")

    roots = {name: fleet.procs[name].pid for name in ("auth", "gateway", "nginx")}
    rpid = redis_server_pid(redis_client)
    if rpid:
        roots["redis"] = rpid
    redis_client.close()

    # -- 1 + 3. max throughput, with CPU per request. The three paths take turns (ROUNDS rounds of
    # DURATION/ROUNDS seconds each) so that a slow drift of the machine's speed hits them alike.
    targets = ("direct", "nginx", "gateway")
    slice_s = DURATION / ROUNDS
    if PARTS != ALL_PARTS:
        return run_parts(results, roots, urls, gw, token, username, password, stamp, started)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for round_no in range(1, ROUNDS + 1):
        for name in targets:
            for attempt in (1, 2):
                quiet = settle(roots, f"throughput {name} round {round_no}")
                wrk(urls[name], token, WARMUP)
                meter = CpuMeter(roots)
                meter.start()
                result = wrk(urls[name], token, slice_s)
                result.update(meter.stop(result["requests"]))
                result.update(before=quiet, attempt=attempt, round=round_no)
                if not retry_noisy(result, f"throughput {name} round {round_no}"):
                    break
            rounds[name].append(result)
            log(
                f"throughput {name:8s} round {round_no}: {result['rps']:7.1f} req/s  p50 {result['p50_ms']} ms"
                f"  p99 {result['p99_ms']} ms  non-2xx {result['non_2xx']}  socket errors {result['socket_errors']}"
                f"  CPU-ms/req {result['cpu_ms_per_request']}  other load {result['background_cores']} cores"
            )
    throughput = {name: combine_wrk(rounds[name]) for name in targets}
    direct_rps = throughput["direct"]["rps"] or 1.0
    for result in throughput.values():
        result["ratio_to_direct"] = round(result["rps"] / direct_rps, 3)
    results["throughput"] = throughput

    # -- 2. latency at a fixed rate (and CPU per request at that rate), the paths again taking turns
    auth_header = [f"Authorization: Bearer {token}"]
    lat_rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for round_no in range(1, ROUNDS + 1):
        for name in targets:
            for attempt in (1, 2):
                quiet = settle(roots, f"{FIXED_RATE}/s {name} round {round_no}")
                meter = CpuMeter(roots)
                meter.start()
                result = loadgen(urls[name], FIXED_RATE, slice_s, headers=auth_header, warmup=0.5, samples=True)
                # the meter spans warm-up + measurement: requests = everything sent
                result.update(meter.stop(int(FIXED_RATE * (slice_s + 0.5))))
                result.update(before=quiet, attempt=attempt, round=round_no)
                if not retry_noisy(result, f"{FIXED_RATE}/s {name} round {round_no}"):
                    break
            lat_rounds[name].append(result)
            q = result["latency_ms"]
            log(
                f"@{FIXED_RATE}/s {name:8s} round {round_no}: achieved {result['achieved_rate']}/s  p50 {q['p50']} ms"
                f"  p99 {q['p99']} ms  statuses {result['statuses']}  errors {result['errors']}"
                f"  CPU-ms/req {result['cpu_ms_per_request']}  other load {result['background_cores']} cores"
            )
    latency: dict[str, Any] = {name: combine_loadgen(lat_rounds[name]) for name in targets}
    for name in ("nginx", "gateway"):
        latency[f"added_{name}"] = {
            f"p{p}_ms": round(latency[name]["latency_ms"][f"p{p}"] - latency["direct"]["latency_ms"][f"p{p}"], 3)
            for p in (50, 90, 99)
        }
    results["latency_fixed_rate"] = {"rate": FIXED_RATE, "generator": "bench/loadgen.py (open loop)", **latency}
    results["gateway_cpu_ms_per_request"] = {
        "at_max_throughput": throughput["gateway"]["cpu_ms_per_request"]["gateway"],
        f"at_{FIXED_RATE}_rps": latency["gateway"]["cpu_ms_per_request"]["gateway"],
        "nginx_at_max_throughput": throughput["nginx"]["cpu_ms_per_request"]["nginx"],
        "auth_direct_at_max_throughput": throughput["direct"]["cpu_ms_per_request"]["auth"],
    }

    # -- 4. the rate-limit check
    log(f"rate-limit check: {LIMITER_N} calls per variant, interleaved; then over-admission ...")
    settle(roots, "rate-limit check")
    limiter = bench_limiter(LIMITER_N)
    limiter["over_admission"] = [over_admission(limit) for limit in (100, 1000)]
    results["rate_limit"] = limiter
    log(
        f"limiter {limiter['per_call_us']} µs/call, ratio {limiter['ratio_authenticated']}x; over-admitted "
        + ", ".join(f"{o['over_admitted']} (L={o['limit']})" for o in limiter["over_admission"])
    )

    # -- 5. login bursts: through the gateway (the target), then direct (to see whose queue it is)
    results["login_bursts"] = {
        "gateway": login_bursts(
            "gateway", roots, urls["gateway"], gw + "/api/v1/auth/login", auth_header, username, password, DURATION
        ),
        "direct": login_bursts(
            "direct",
            roots,
            urls["direct"],
            f"http://127.0.0.1:{AUTH_PORT}/api/v1/auth/login",
            auth_header,
            username,
            password,
            DURATION / 2,  # a shorter look: only to see whether the queue is the auth service's own
        ),
    }

    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["targets"] = evaluate(results)
    path = save_results(results, f"gateway-{stamp}.json")
    print(render(results))
    print(f"\nresults: {path.relative_to(ROOT)}  ({results['elapsed_s']} s)")
    return 0


def save_results(results: dict[str, Any], name: str) -> Path:
    """Write a run's results as bench/results/<name> (what JSON cannot hold, as text); the path."""
    out_dir = BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def run_parts(
    results: dict[str, Any],
    roots: dict[str, int],
    urls: dict[str, str],
    gw: str,
    token: str,
    username: str,
    password: str,
    stamp: str,
    started: float,
) -> int:
    """Only the sections named in BENCH_PARTS (those that need no other section's numbers)."""
    auth_header = [f"Authorization: Bearer {token}"]
    unsupported = set(PARTS) - {"limiter", "logins"}
    if unsupported:
        raise SystemExit(f"BENCH_PARTS: {sorted(unsupported)} run only in a full run")
    if "limiter" in PARTS:
        settle(roots, "rate-limit check")
        results["rate_limit"] = bench_limiter(LIMITER_N)
        limiter = results["rate_limit"]
        log(f"limiter {limiter['per_call_us']} µs/call, ratio {limiter['ratio_authenticated']}x")
    if "logins" in PARTS:
        results["login_bursts"] = {
            "gateway": login_bursts(
                "gateway", roots, urls["gateway"], gw + "/api/v1/auth/login", auth_header, username, password, DURATION
            )
        }
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    path = save_results(results, f"gateway-{stamp}-{'+'.join(PARTS)}.json")
    print(f"\nresults (BENCH_PARTS={','.join(PARTS)}, no table): {path.relative_to(ROOT)}  ({results['elapsed_s']} s)")
    return 0


def login_bursts(
    where: str,
    roots: dict[str, int],
    me_url: str,
    login_url: str,
    auth_header: list[str],
    username: str,
    password: str,
    duration: float,
) -> dict[str, Any]:
    """/me p99 at LOGIN_PROBE_RATE while idle, then while LOGIN_RATE logins/s go the same way.

    Logins are sent open loop at LOGIN_RATE over LOGIN_CONNECTIONS connections: like that many
    clients at once. What the auth service cannot take queues in the load generator (counted, and
    given up on at the end) rather than piling up in the fleet and spilling into the next phase."""
    quiet_idle = settle(roots, f"login bursts {where} (idle)")
    meter = CpuMeter(roots)
    meter.start()
    idle = loadgen(me_url, LOGIN_PROBE_RATE, duration, headers=auth_header)
    idle.update(meter.stop(int(LOGIN_PROBE_RATE * (duration + 1.0))))
    idle["before"] = quiet_idle
    body = json.dumps({"username": username, "password": password})
    login_argv = loadgen_argv(
        login_url,
        LOGIN_RATE,
        duration + 2.0,
        headers=["Content-Type: application/json"],
        warmup=1.0,
        body=body,
        connections=LOGIN_CONNECTIONS,
        grace=2.0,
    )
    quiet_loaded = settle(roots, f"login bursts {where} (with logins)")
    meter = CpuMeter(roots)
    meter.start()
    logins = subprocess.Popen(login_argv, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # logins at full rate before the probe starts
        loaded = loadgen(me_url, LOGIN_PROBE_RATE, duration, headers=auth_header, warmup=0.5)
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
    m = r["machine"]
    t = r["throughput"]
    lines = [
        "",
        f"HugMood gateway benchmark  {r['timestamp']}  ({m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']},"
        f" git {r['git']['commit'][:8]}{' +local changes' if r['git']['dirty'] else ''})",
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
