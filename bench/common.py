"""What every benchmark shares: its settings, the checks before a run, the fleet it starts, CPU
accounting, the wait for a quiet machine, and where its results go.

A benchmark describes itself with a `Settings` (database, Redis db, ports, extra environment,
tools it needs) and hands `bench_main` the function that measures; `bench_main` checks the
machine, starts nothing itself but a `Session` (temp dir, `Fleet`, CPU accounting), and on exit,
Ctrl-C or SIGTERM stops every process the session started and drops what it created.

    settings = Settings.from_env("MOOD_", database="hugmood_moodbench", redis_db=8, port_base=14500, ...)
    sys.exit(bench_main(settings, measure, render))
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
HUGE = "100000000"  # a rate limit that is checked on every request but never reached
# The services a fleet's gateway and services know by URL (shared.config.SERVICES, and the gateway).
# The gateway's ops port (GATEWAY_OPS_PORT) in a bench fleet: this far above its API port.
GATEWAY_OPS_OFFSET = 50
KNOWN = ("auth", "user", "mood", "hug", "notification", "social", "gateway", "graphql")
# Settings from the caller's environment that would point the fleet at someone else's servers
FOREIGN = ("GATEWAY_", "AUTH_", "ADMIN_", "PROMETHEUS_", "USER_", "MOOD_", "HUG_", "NOTIFICATION_", "SOCIAL_")
FOREIGN += ("DATABASE_", "REDIS_", "JWT_", "BIND_", "SERVICE_CLIENT_SECRET", "GRAPHQL_")
NOISE_LIMIT = 0.25  # cores of other load during a measurement that make it worth repeating


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def which(tool: str) -> str:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or tool


def port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def replace_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


# ---- settings ---------------------------------------------------------------------------------


@dataclass
class Settings:
    """One benchmark's surroundings. `ports` are the processes it runs (name -> port), `absent` the
    services its processes know but it does not run (their URLs lead nowhere), `env` what the
    fleet's processes get on top of the generated environment."""

    name: str  # bench/<name>.py, for messages
    database: str
    redis_url: str
    admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    ports: dict[str, int] = field(default_factory=dict)
    absent: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    port_knob: str = "BENCH_PORT_BASE"
    tools: tuple[tuple[str, str], ...] = ()  # (tool on PATH, Debian package)
    files: tuple[tuple[str, str], ...] = ()  # (path that must exist, how to get it)
    keep: bool = False
    quiet_wait: float = 10.0
    retries: int = 1

    @classmethod
    def from_env(
        cls,
        prefix: str,
        *,
        name: str,
        database: str,
        redis_db: int,
        port_base: int,
        ports: Iterable[str],
        absent: Iterable[str] = (),
        absent_offset: int = 10,
        **kwargs: Any,
    ) -> Settings:
        """BENCH_<prefix>DATABASE_NAME, BENCH_<prefix>REDIS_URL and BENCH_<prefix>PORT_BASE override the
        defaults; BENCH_DATABASE_URL, BENCH_KEEP, BENCH_QUIET_WAIT and BENCH_RETRIES are common to all.
        Ports are handed out from the base in the order given; absent services from base + absent_offset."""
        base = env_int(f"BENCH_{prefix}PORT_BASE", port_base)
        return cls(
            name=name,
            database=env_str(f"BENCH_{prefix}DATABASE_NAME", database),
            redis_url=env_str(f"BENCH_{prefix}REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
            admin_url=env_str("BENCH_DATABASE_URL", cls.admin_url),
            ports={service: base + i for i, service in enumerate(ports)},
            absent={service: base + absent_offset + i for i, service in enumerate(absent)},
            port_knob=f"BENCH_{prefix}PORT_BASE",
            keep=os.environ.get("BENCH_KEEP") == "1",
            quiet_wait=env_float("BENCH_QUIET_WAIT", 10.0),
            retries=env_int("BENCH_RETRIES", 1),
            **kwargs,
        )

    @property
    def database_url(self) -> str:
        return replace_db(self.admin_url, self.database)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def ops_port(self, service: str) -> int:
        """Where `service` answers /readyz and /metrics: the gateway on a port of its own."""
        return self.ports[service] + GATEWAY_OPS_OFFSET if service == "gateway" else self.ports[service]


def preflight(settings: Settings, more: Iterable[str] = ()) -> None:
    """Tools on PATH, PostgreSQL and Redis reachable, the ports free; else say how to fix it and exit."""
    problems = list(more)
    for tool, package in settings.tools:
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            problems.append(f"`{tool}` is not installed (Debian/Ubuntu: `apt-get install -y {package}`)")
    for path, hint in settings.files:
        if not Path(path).exists():
            problems.append(f"{path} is missing ({hint})")
    if not (VENV_BIN / "gunicorn").exists():
        problems.append(f"gunicorn is not in {VENV_BIN} (run `make install`)")
    for what, url, default_port in (("PostgreSQL", settings.admin_url, 5432), ("Redis", settings.redis_url, 6379)):
        parts = urlsplit(url)
        if not port_open(parts.hostname or "127.0.0.1", parts.port or default_port):
            problems.append(f"{what} is not reachable at {parts.hostname}:{parts.port or default_port}")
    for port in {*settings.ports.values(), *(settings.ops_port(name) for name in settings.ports)}:
        if port_open("127.0.0.1", port):
            problems.append(f"port {port} is in use (set {settings.port_knob} to move the bench fleet)")
    if problems:
        print(f"bench/{settings.name}.py cannot run:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        sys.exit(2)


# ---- the fleet --------------------------------------------------------------------------------


def procfile_command(name: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command line for `name`, ${VAR:-default} expanded from `env`."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            command = line.split(":", 1)[1].strip()
            command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), command)
            return shlex.split(command)
    raise SystemExit(f"Procfile has no `{name}` process")


class Fleet:
    """The processes of one bench run, each in its own process group, logs in a temp dir; the load
    clients it runs beside them are stopped first."""

    def __init__(self, tmp: Path, settings: Settings):
        self.tmp = tmp
        self.settings = settings
        self.procs: dict[str, subprocess.Popen] = {}
        self.clients: list[subprocess.Popen] = []
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        from services.auth.service import generate_private_key_pem

        env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
        key_file = self.tmp / "jwt-signing-key.pem"
        key_file.write_text(generate_private_key_pem())
        key_file.chmod(0o600)
        (self.tmp / "prometheus").mkdir()
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            DATABASE_URL=self.settings.database_url,
            REDIS_URL=self.settings.redis_url,
            BIND_HOST="127.0.0.1",
            LOG_LEVEL="INFO",
            HUGMOOD_ENV="development",  # its secrets are the development defaults, as under `make run`
            PROMETHEUS_MULTIPROC_BASE=str(self.tmp / "prometheus"),  # as `make run` does
            AUTH_JWT_PRIVATE_KEY_FILE=str(key_file),
        )
        for service, port in self.settings.ports.items():
            if service in KNOWN:
                env[f"{service.upper()}_PORT"] = str(port)
                if service == "gateway":
                    env["GATEWAY_OPS_PORT"] = str(self.settings.ops_port(service))
                else:
                    env[f"{service.upper()}_URL"] = f"http://127.0.0.1:{port}"
        for service, port in self.settings.absent.items():
            env[f"{service.upper()}_URL"] = f"http://127.0.0.1:{port}"
        env.update(self.settings.env)
        return env

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def start_procfile(self, *names: str) -> dict[str, str]:
        """Start each named process with the Procfile's command line; the command lines, as run."""
        commands = {name: procfile_command(name, self.env) for name in names}
        for name, argv in commands.items():
            self.start(name, argv)
        return {name: " ".join(argv) for name, argv in commands.items()}

    def start_nginx(self, name: str, conf: str) -> None:
        """An nginx (or nginx with modules) on a config generated into the temp dir."""
        path = self.tmp / f"{name}.conf"
        path.write_text(conf)
        self.start(
            name, [which("nginx"), "-p", str(self.tmp), "-e", str(self.tmp / f"{name}-error.log"), "-c", str(path)]
        )

    def nginx_temp_paths(self, prefix: str) -> str:
        """nginx's temp directories, in ours (its compiled-in defaults are not writable for us)."""
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        return "\n".join(f"    {kind}_temp_path {self.tmp}/{prefix}-{kind}.tmp;" for kind in kinds)

    def nginx_user(self) -> str:
        """nginx started as root switches to `nobody`, who cannot write our temp dir: stay root."""
        return "user root;\n" if os.geteuid() == 0 else ""

    def migrate(self, *services: str) -> None:
        migrated = subprocess.run(
            [sys.executable, "-m", "shared.migrate", "upgrade", *services],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if migrated.returncode != 0:
            raise SystemExit(f"migrations failed:\n{migrated.stdout}{migrated.stderr}")

    def track(self, client: subprocess.Popen) -> subprocess.Popen:
        """A load client this run started (not in the fleet's process groups): killed on stop."""
        self.clients.append(client)
        return client

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

    def wait_ready(self, *names: str, path: str = "/readyz", timeout: float = 60.0) -> None:
        for name in names:
            self.wait_http(name, f"http://127.0.0.1:{self.settings.ops_port(name)}{path}", timeout=timeout)

    def roots(self, *names: str) -> dict[str, int]:
        """The named processes' pids, the roots of the process trees CPU is counted for."""
        return {name: self.procs[name].pid for name in names}

    def stop(self) -> None:
        for client in self.clients:
            if client.poll() is None:
                client.kill()
                client.wait()
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                # gunicorn: SIGQUIT = quick shutdown (SIGTERM would wait up to graceful_timeout=75 s);
                # celery: SIGQUIT = cold shutdown; nginx: SIGTERM = fast shutdown; the relay: SIGTERM.
                sig = signal.SIGTERM if name in ("nginx", "relay") else signal.SIGQUIT
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


# ---- the database and the Redis db -------------------------------------------------------------


def fresh_database(settings: Settings) -> str:
    """Drop and create the bench's database; its URL (as the PostgreSQL admin)."""
    import psycopg2

    conn = psycopg2.connect(settings.admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{settings.database}"')
    conn.close()
    return settings.database_url


def flush_redis(settings: Settings) -> None:
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    client.close()


def clean_up(settings: Settings, tmp: Path) -> None:
    """Drop the bench's database, flush its Redis db and remove its temp dir, unless BENCH_KEEP=1."""
    if settings.keep:
        log(f"kept {tmp} and database {settings.database}")
        return
    import psycopg2

    with contextlib.suppress(psycopg2.Error):
        conn = psycopg2.connect(settings.admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
        conn.close()
    with contextlib.suppress(Exception):
        flush_redis(settings)
    shutil.rmtree(tmp, ignore_errors=True)


def redis_server_pid(redis_url: str) -> int | None:
    """The local redis-server's pid (for its CPU time), if it runs on this machine."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        with contextlib.suppress(Exception):
            pid = int(client.info("server")["process_id"])
            if Path(f"/proc/{pid}/stat").exists() and "redis" in Path(f"/proc/{pid}/comm").read_text():
                return pid
        return None
    finally:
        client.close()


# ---- /proc: CPU, process trees, connections ---------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, float] | None:
    """(comm, ppid, utime+stime seconds) of a process, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    comm = data[data.index("(") + 1 : data.rindex(")")]
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_pids(root: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st is not None:
                children.setdefault(st[1], []).append(int(entry))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def _machine_busy() -> float:
    """CPU-seconds the whole machine has been busy (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cpu_snapshot(roots: dict[str, int], database: str) -> dict[str, float]:
    """CPU seconds so far of: each named process tree, `database`'s PostgreSQL backends, the load
    tools this script ran (wrk, loadgen: reaped children), and the machine as a whole."""
    parents: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    postgres = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        st = proc_stat(pid)
        if st is None:
            continue
        comm, ppid, seconds = st
        parents.setdefault(ppid, []).append(pid)
        cpu[pid] = seconds
        if comm.startswith("postgres"):
            with contextlib.suppress(OSError):
                if f" {database} ".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
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
    """CPU time per process tree between start() and stop(); what nobody here used is
    "background" (other work on the machine, e.g. someone else's test run: a noisy measurement)."""

    def __init__(self, roots: dict[str, int], database: str):
        self.roots = roots
        self.database = database
        self.before: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self.before = cpu_snapshot(self.roots, self.database)
        return self

    def stop(self, requests: int) -> dict[str, Any]:
        after = cpu_snapshot(self.roots, self.database)
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


# ---- one run ----------------------------------------------------------------------------------


class Session:
    """One bench run: its temp dir and fleet, the process trees it meters, and its budgets for
    waiting on a quiet machine (BENCH_QUIET_WAIT seconds) and repeating a disturbed measurement
    (BENCH_RETRIES)."""

    def __init__(self, settings: Settings, tmp: Path):
        self.settings = settings
        self.tmp = tmp
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.started = time.monotonic()
        self.fleet = Fleet(tmp, settings)
        self.roots: dict[str, int] = {}
        self.quiet_left = settings.quiet_wait
        self.retries_left = settings.retries

    def meter(self, roots: dict[str, int] | None = None) -> CpuMeter:
        """A started CpuMeter over the session's process trees (or `roots`)."""
        return CpuMeter(self.roots if roots is None else roots, self.settings.database).start()

    def snapshot(self, roots: dict[str, int] | None = None) -> dict[str, float]:
        return cpu_snapshot(self.roots if roots is None else roots, self.settings.database)

    def settle(self, label: str) -> dict[str, float]:
        """Before a measurement: wait (bounded) until our fleet is idle and other load on the machine
        is low. Returns what was seen, so a noisy measurement is reported as such."""
        waited = 0.0
        while True:
            before = self.snapshot()
            time.sleep(0.5)
            after = self.snapshot()
            wall = after["wall"] - before["wall"]
            ours = sum(after[k] - before[k] for k in after if k not in ("machine", "wall"))
            other = max(after["machine"] - before["machine"] - ours, 0.0) / wall
            fleet = ours / wall
            waited += wall
            if (other < 0.15 and fleet < 0.2) or self.quiet_left <= 0:
                break
            self.quiet_left -= wall
        if waited > 1.5:
            log(f"{label}: waited {waited:.1f}s for a quiet machine (other load {other:.2f} cores, fleet {fleet:.2f})")
        return {
            "waited_s": round(waited, 1),
            "other_load_cores": round(other, 2),
            "fleet_cores": round(fleet, 2),
            "speed_probe_ms": speed_probe(),
        }

    def retry_noisy(self, result: dict[str, Any], label: str) -> bool:
        """True (and one retry fewer left) if other load disturbed this measurement and it should be redone."""
        if result["background_cores"] <= NOISE_LIMIT or result.get("attempt", 1) > 1 or self.retries_left <= 0:
            return False
        self.retries_left -= 1
        log(f"{label}: {result['background_cores']} cores of other load during the measurement; measuring again")
        return True

    def results(self, tools: Iterable[str] = ()) -> dict[str, Any]:
        """The head of a results document: when, on what machine, at which commit."""
        return {"timestamp": self.stamp, "machine": machine(tools), "git": git_state()}

    def save(self, results: dict[str, Any], suffix: str = "") -> Path:
        """bench/results/<name>-<stamp><suffix>.json (what JSON cannot hold, as text); the path."""
        out_dir = BENCH / "results"
        out_dir.mkdir(exist_ok=True)
        path = out_dir / f"{self.settings.name}-{self.stamp}{suffix}.json"
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        return path

    def close(self) -> None:
        log("stopping the bench fleet")
        self.fleet.stop()
        clean_up(self.settings, self.tmp)


def bench_main(
    settings: Settings,
    measure: Callable[[Session], int],
    render: Callable[[dict[str, Any]], str],
    *,
    argv: list[str] | None = None,
    more_problems: Callable[[], Iterable[str]] = tuple,
) -> int:
    """`--render <json>` re-prints a saved run; otherwise: preflight, then measure(session) with the
    session's fleet stopped and its database dropped however it ends."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--render"]:
        print(render(json.loads(Path(argv[1]).read_text())))
        return 0
    preflight(settings, more_problems())
    session = Session(settings, Path(tempfile.mkdtemp(prefix=f"hugmood-bench-{settings.name}-")))

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    # SIGINT too: a shell starting us in the background would otherwise leave it ignored
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        return measure(session)
    finally:
        session.close()


def finish(session: Session, results: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> int:
    """Save a complete run's results and print its table."""
    results["elapsed_s"] = round(time.monotonic() - session.started, 1)
    path = session.save(results)
    print(render(results))
    print(f"\nresults: {path.relative_to(ROOT)}  ({results['elapsed_s']} s)")
    return 0


# ---- what a results document says about its run ----------------------------------------------


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the code under test had local changes."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "gateway", "services", "shared", "Procfile")
    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(changed), "changed": changed.splitlines()}


VERSION_ARGV = {"wrk": ["wrk", "--version"], "nginx": ["nginx", "-v"]}


def machine(tools: Iterable[str] = ()) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    out: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    versions = {}
    for tool in tools:
        argv = VERSION_ARGV[tool]
        with contextlib.suppress(OSError, IndexError):
            proc = subprocess.run([which(argv[0]), *argv[1:]], capture_output=True, text=True)
            versions[tool] = (proc.stdout + proc.stderr).strip().splitlines()[0]
    if versions:
        out["tools"] = versions
    return out


def heading(title: str, r: dict[str, Any]) -> str:
    """The first line of a table: what, when, on what machine, at which commit."""
    m = r["machine"]
    dirty = " +local changes" if r["git"]["dirty"] else ""
    return (
        f"HugMood {title}  {r['timestamp']}  ({m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']},"
        f" git {r['git']['commit'][:8]}{dirty})"
    )


# ---- HTTP --------------------------------------------------------------------------------------


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, Any]:
    """One request of a run's setup (register, log in, check an answer), not a measurement: its timeout
    leaves room for a password hash on a busy machine."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
