"""`make bench-notify`: hug-to-poll delivery latency, and 10,000 held long polls against Nchan.

One run starts its own fleet with the Procfile's command lines (gateway, auth, user, hug,
notification, the Celery worker, the relay and beat) on a throw-away PostgreSQL database and Redis
db 7, plus an nginx with the Nchan module from a generated config, and measures:

  1. hug-to-delivery latency: hugs POSTed through the gateway open loop at a fixed rate (50/s for
     20 s), each recipient holding a long poll through the gateway AND one directly on the
     notification service (the baseline, side by side, answered by the same hugs): time from the
     POST returning to the held poll answering with that hug's notification. The path is the
     production one: hug row + outbox → relay (NOTIFY) → Celery → notification consumer → row +
     Redis wake-up → held poll. Senders and recipients are registered through the auth service.
  2. 10,000 held long polls: RSS (VmRSS of master + workers) of the gateway and the notification
     service (2 gevent workers each) before and while holding them, per held poll; the same for
     Nchan (nginx, 2 workers) holding 10,000 longpoll subscribers.
  3. single-user delivery among those 10,000: one user's held poll; a notification is created for
     it by calling the notification service's own HugSent consumer in this process (claim, rows,
     commit, Redis wake-up: exactly the worker's code, without Celery) and timed until the poll
     answers; repeated with the new cursor. The same deliveries are also timed from the commit
     (the consumer calling its wake-up: the notification exists and is durable) to the answer,
     which is what Nchan's figure measures; and, as the floor under the consumer's durable write,
     raw psycopg2 after the same idle gap (a SELECT 1, a one-row INSERT committed). Against Nchan:
     POST to the publisher location → the held longpoll subscriber answers, with 10,000 other
     subscribers held.

The 10,000 pollers use tokens minted with the fleet's signing key (like shared.testing.mint_token)
for random user ids, and are held by this same file run as a gevent client (`--hold`, one process,
raw sockets); the hug load and its pollers are another gevent client (`--hugs`). Polls time out
after 60 s and are re-issued.

It prints a table, writes bench/results/notifications-<timestamp>.json and stops everything it
started. It installs nothing: nginx with the Nchan module must be installed (Debian:
apt-get install -y nginx libnginx-mod-nchan).

Knobs (environment): BENCH_DATABASE_URL (admin URL of the PostgreSQL server, default
postgresql://postgres@127.0.0.1:5432/postgres), BENCH_NOTIFY_DATABASE_NAME (hugmood_bench_notify),
BENCH_NOTIFY_REDIS_URL (redis://127.0.0.1:6379/7; the db is flushed), BENCH_NOTIFY_PORT_BASE (14510:
gateway, +1 auth, +2 user, +3 hug, +4 notification, +5 nginx/Nchan), BENCH_HUG_RATE (50 hugs/s),
BENCH_HUG_DURATION (20 s, after 2 s of unrecorded warm-up), BENCH_HUG_POLLS (split: half the recipients
poll through the gateway, half directly, one poll each as a real client; both: every recipient holds one
of each, so the same hug is timed on both paths, at twice the polling load), BENCH_LOW_RATE /
BENCH_LOW_DURATION (a reference run first at 5 hugs/s for 10 s, where nothing queues; 0 skips it),
BENCH_RECIPIENTS (20), BENCH_SENDERS (5),
BENCH_HELD (10000 held polls, the probe's included), BENCH_DELIVERIES (200), BENCH_RAMP_RATE (polls
opened per second, 200: done in 50 s, so that the single-user delivery is measured right after, about
when the first polls time out at 60 s), BENCH_WORKER_CONNECTIONS (6000 per gevent worker), BENCH_GATEWAY_WORKERS /
BENCH_NOTIFICATION_WORKERS (2 / 2), BENCH_WORKER_CONCURRENCY (Celery, 2), BENCH_NCHAN_WORKERS (2),
BENCH_PARTS (hugs,nchan,hold: which parts to run), BENCH_QUIET_WAIT (10), BENCH_KEEP=1 (keep the temp
dir with all logs, and the database). See docs/benchmarks.md.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1:2] in (["--hold"], ["--hugs"]):
    from gevent import monkey  # the load clients: gevent, patched before anything opens a socket

    monkey.patch_all()

import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python bench/notifications.py`
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.common import HUGE, Session, Settings, env_float, env_int, log  # noqa: E402
from bench.loadgen import percentile  # noqa: E402
from shared.config import SERVICES  # noqa: E402
from shared.events import service_queue  # noqa: E402

POLL = "/api/v1/notifications/poll"
POLL_TIMEOUT = 60  # the API's maximum


# ---- a minimal HTTP/1.1 client (blocking here; cooperative in the gevent clients) ---------------


class HttpConn:
    """One keep-alive connection; requests written by hand, responses parsed just enough
    (Content-Length, chunked, or until close). Cheap enough to hold 10,000 from one process."""

    __slots__ = ("addr", "sock", "buf")

    def __init__(self, host: str, port: int):
        self.addr = (host, port)
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock, self.buf = None, b""

    def send(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> None:
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=None)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.addr[0]}:{self.addr[1]}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def readable(self) -> bool:
        """True if response bytes are already waiting (without blocking)."""
        if self.buf:
            return True
        ready, _, _ = select.select([self.sock], [], [], 0)
        return bool(ready)

    def read(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                parts.append(self.buf[:size])
                self.buf = self.buf[size + 2 :]
                if size == 0:
                    break
            body = b"".join(parts)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            with contextlib.suppress(ConnectionError):
                while True:
                    self._fill()
            body, self.buf = self.buf, b""
            self.close()
        if headers.get("connection", "").lower() == "close" and self.sock is not None:
            self.close()
        return status, headers, body

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            self.send(method, path, headers, body)
            return self.read()
        except OSError:
            self.close()  # a keep-alive connection the server closed meanwhile: once more, fresh
            self.send(method, path, headers, body)
            return self.read()


def percentiles(values: list[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles (bench/loadgen.py's), with the count, extremes and mean."""
    s = sorted(values)
    if not s:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "min": None, "mean": None}
    return {
        "n": len(s),
        **{f"p{p}": round(percentile(s, p), 3) for p in (50, 90, 99)},
        "max": round(s[-1], 3),
        "min": round(s[0], 3),
        "mean": round(sum(s) / len(s), 3),
    }


# ---- the gevent clients (this file run with --hugs / --hold) ----------------------------------


def paths_of(recipient_index: int, cfg: dict[str, Any]) -> tuple[str, ...]:
    """How recipient #i polls: "split" = one poll each, alternately through the gateway and
    direct (a real client's load); "both" = one of each (the same hug timed on both paths)."""
    if cfg["poll_mode"] == "both":
        return ("gateway", "direct")
    return ("gateway",) if recipient_index % 2 == 0 else ("direct",)


def hugs_client(cfg: dict[str, Any]) -> dict[str, Any]:
    """Open-loop hugs through the gateway; two held polls per recipient (gateway, direct)."""
    import gevent
    from gevent.queue import Queue

    host = "127.0.0.1"
    ports = {"gateway": cfg["gateway_port"], "direct": cfg["notification_port"]}
    recipients = cfg["recipients"]
    senders = cfg["senders"]
    arrivals: dict[str, dict[str, float]] = {"gateway": {}, "direct": {}}
    poll_errors: list[str] = []
    ready = {"n": 0}
    answers = {"gateway": 0, "direct": 0}

    def poller(path_name: str, token: str) -> None:
        conn = HttpConn(host, ports[path_name])
        auth = {"Authorization": f"Bearer {token}"}
        cursor = None
        while cursor is None:
            status, _, body = conn.request("GET", POLL, auth)
            if status == 200:
                cursor = json.loads(body)["cursor"]
            else:
                poll_errors.append(f"{path_name} first poll {status} {body[:200]!r}")
                gevent.sleep(0.5)
        ready["n"] += 1
        while True:
            try:
                status, _, body = conn.request("GET", f"{POLL}?cursor={cursor}&timeout={POLL_TIMEOUT}", auth)
            except OSError as exc:
                poll_errors.append(f"{path_name} {exc!r}")
                gevent.sleep(0.2)
                continue
            now = time.perf_counter()
            if status != 200:
                poll_errors.append(f"{path_name} poll {status} {body[:200]!r}")
                gevent.sleep(0.2)
                continue
            doc = json.loads(body)
            answers[path_name] += 1
            for item in doc["items"]:
                hug_id = (item.get("data") or {}).get("hug_id")
                if hug_id:
                    arrivals[path_name].setdefault(hug_id, now)
            cursor = doc["cursor"]

    pollers = [gevent.spawn(poller, p, r["token"]) for idx, r in enumerate(recipients) for p in paths_of(idx, cfg)]
    deadline = time.monotonic() + 30
    while ready["n"] < len(pollers) and time.monotonic() < deadline:
        gevent.sleep(0.05)
    gevent.sleep(0.5)  # the first held polls are in place

    pool: Queue = Queue()
    hugs: list[dict[str, Any]] = []
    rate, duration, warmup = cfg["rate"], cfg["duration"], cfg["warmup"]
    total = int(rate * (warmup + duration))
    n_warm = int(rate * warmup)

    def send(i: int, due: float) -> None:
        conn = pool.get() if not pool.empty() else HttpConn(host, ports["gateway"])
        recipient = recipients[i % len(recipients)]
        sender = senders[(i // len(recipients)) % len(senders)]
        body = json.dumps({"recipient_id": recipient["id"], "type": "warm", "message": f"bench hug {i}"}).encode()
        record: dict[str, Any] = {"i": i, "due": due, "warmup": i < n_warm, "paths": paths_of(i % len(recipients), cfg)}
        record["sent"] = time.perf_counter()
        try:
            status, _, answer = conn.request(
                "POST",
                "/api/v1/hugs",
                {"Authorization": f"Bearer {sender['token']}", "Content-Type": "application/json"},
                body,
            )
            record["returned"] = time.perf_counter()
            record["status"] = status
            if status == 201:
                record["hug_id"] = json.loads(answer)["id"]
            else:
                record["error"] = answer[:300].decode(errors="replace")
            pool.put(conn)
        except OSError as exc:
            record["returned"] = time.perf_counter()
            record["status"] = 0
            record["error"] = repr(exc)
            conn.close()
        hugs.append(record)

    start = time.perf_counter() + 0.2
    clock = [time.perf_counter(), time.time()]  # to compare with PostgreSQL's timestamps afterwards
    senders_g = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        senders_g.append(gevent.spawn(send, i, due))
    gevent.joinall(senders_g, timeout=30)
    # Wait for every created hug's notification on both paths (bounded).
    wanted = {p: {h["hug_id"] for h in hugs if h.get("hug_id") and p in h["paths"]} for p in arrivals}
    deadline = time.monotonic() + cfg["grace"]
    while time.monotonic() < deadline:
        if all(wanted[p] <= set(arrivals[p]) for p in arrivals):
            break
        gevent.sleep(0.05)
    gevent.killall(pollers, block=False)
    return {
        "hugs": hugs,
        "arrivals": arrivals,
        "poll_errors": poll_errors[:50],
        "poll_error_count": len(poll_errors),
        "poll_answers": answers,
        "clock": clock,
        "sending_s": round(hugs and max(h["sent"] for h in hugs) - start or 0, 3),
        "start": start,
    }


def hold_client(cfg: dict[str, Any]) -> None:
    """Hold len(items) long polls (HugMood or Nchan), re-issuing each one as it answers; print
    a JSON line of counters every second until killed."""
    import gevent

    host, port, kind = "127.0.0.1", cfg["port"], cfg["kind"]
    stats = {"opened": 0, "pending": 0, "answered": 0, "delivered": 0, "timeouts": 0, "errors": 0}
    errors: dict[str, int] = {}  # by status code or exception

    def hold(item: dict[str, str]) -> None:
        conn = HttpConn(host, port)
        if kind == "hugmood":
            headers = {"Authorization": f"Bearer {item['token']}"}
            cursor = item["cursor"]
        else:
            headers = {}
        first = True
        backoff = 1.0  # after an error, as a real client would: exponential, with jitter, up to 30 s

        def failed(what: str) -> None:
            nonlocal backoff
            stats["errors"] += 1
            errors[what] = errors.get(what, 0) + 1
            gevent.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 30.0)

        while True:
            path = f"{POLL}?cursor={cursor}&timeout={POLL_TIMEOUT}" if kind == "hugmood" else f"/sub/{item['chan']}"
            try:
                conn.send("GET", path, headers)
                if first:
                    stats["opened"] += 1
                    first = False
                stats["pending"] += 1
                try:
                    status, rheaders, body = conn.read()
                finally:
                    stats["pending"] -= 1
            except OSError as exc:
                conn.close()
                failed(type(exc).__name__)
                continue
            stats["answered"] += 1
            if kind == "hugmood":
                if status == 200:
                    doc = json.loads(body)
                    if doc["items"]:
                        stats["delivered"] += 1
                    else:
                        stats["timeouts"] += 1
                    cursor = doc["cursor"]
                    backoff = 1.0
                else:
                    failed(str(status))
            elif status == 200:
                stats["delivered"] += 1
                backoff = 1.0
                if "last-modified" in rheaders:
                    headers["If-Modified-Since"] = rheaders["last-modified"]
                if "etag" in rheaders:
                    headers["If-None-Match"] = rheaders["etag"]
            elif status in (304, 408):
                stats["timeouts"] += 1
                backoff = 1.0
            else:
                failed(str(status))

    def report() -> None:
        while True:
            print(json.dumps({**stats, "t": time.time(), "error_kinds": errors}), flush=True)
            gevent.sleep(1.0)

    gevent.spawn(report)
    items = cfg["items"]
    rate = cfg["ramp_rate"]
    start = time.perf_counter()
    greenlets = []
    for i, item in enumerate(items):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        greenlets.append(gevent.spawn(hold, item))
    gevent.joinall(greenlets)


def client_main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1:] * 2)
    cfg = json.loads(Path(argv[2]).read_text())
    if argv[1] == "--hugs":
        print(json.dumps(hugs_client(cfg)), flush=True)
    else:
        hold_client(cfg)
    return 0


# ---- the orchestrator -------------------------------------------------------------------------

HUG_RATE = env_float("BENCH_HUG_RATE", 50)
HUG_DURATION = env_float("BENCH_HUG_DURATION", 20)
HUG_WARMUP = 2.0
HUG_POLLS = os.environ.get("BENCH_HUG_POLLS") or "split"
LOW_RATE = env_float("BENCH_LOW_RATE", 5)
LOW_DURATION = env_float("BENCH_LOW_DURATION", 10)
RECIPIENTS = env_int("BENCH_RECIPIENTS", 20)
SENDERS = env_int("BENCH_SENDERS", 5)
HELD = env_int("BENCH_HELD", 10_000)
DELIVERIES = env_int("BENCH_DELIVERIES", 200)
RAMP_RATE = env_float("BENCH_RAMP_RATE", 200)
HOLD_IDLE_S = 5.0
SUSTAIN_EXTRA_S = 15.0  # how long past the first timeouts the held polls are watched
# An experiment, off by default: run the notification service with another re-query interval.
WORKER_CONNECTIONS = env_int("BENCH_WORKER_CONNECTIONS", 6000)
GATEWAY_WORKERS = env_int("BENCH_GATEWAY_WORKERS", 2)
NOTIFICATION_WORKERS = env_int("BENCH_NOTIFICATION_WORKERS", 2)
WORKER_CONCURRENCY = env_int("BENCH_WORKER_CONCURRENCY", 2)
NCHAN_WORKERS = env_int("BENCH_NCHAN_WORKERS", 2)
PARTS = {p.strip() for p in (os.environ.get("BENCH_PARTS") or "hugs,nchan,hold").split(",") if p.strip()}
PROBE_GAP = 0.03  # between sending the probe's poll and creating its notification: the poll is held by then
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
FLEET = ("auth", "user", "hug", "notification", "gateway", "worker", "relay", "beat")
TARGETS = {"hug_p99_ms": 25.0, "kb_per_poll": 25.0, "single_p99_ms": 5.0}


def settings() -> Settings:
    """The hug → notification path behind the gateway, every limit out of reach, and an nginx
    with Nchan beside it."""
    return Settings.from_env(
        "NOTIFY_",
        name="notifications",
        database="hugmood_bench_notify",
        redis_db=7,
        port_base=14510,
        ports=("gateway", "auth", "user", "hug", "notification", "nchan"),
        absent=("mood", "social"),
        tools=(("nginx", "nginx libnginx-mod-nchan"),),
        files=((NCHAN_MODULE, "Debian/Ubuntu: `apt-get install -y libnginx-mod-nchan`"),),
        env={
            "AUTH_WORKERS": "1",
            "AUTH_THREADS": "4",
            "GATEWAY_WORKERS": str(GATEWAY_WORKERS),
            "GATEWAY_WORKER_CONNECTIONS": str(WORKER_CONNECTIONS),
            "NOTIFICATION_WORKERS": str(NOTIFICATION_WORKERS),
            "NOTIFICATION_WORKER_CONNECTIONS": str(WORKER_CONNECTIONS),
            "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "HUG_FLOOD_LIMIT": HUGE,
            "GATEWAY_RATE_LIMIT_PER_IP": HUGE,
            "GATEWAY_RATE_LIMIT_PER_USER": HUGE,
            "GATEWAY_AUTH_RATE_LIMIT": HUGE,
        },
    )


NCHAN_CONF = """\
{user}load_module {module};
worker_processes {workers};
worker_rlimit_nofile 20000;
daemon off;
pid {tmp}/nchan.pid;
error_log {tmp}/nchan-error.log warn;
events {{ worker_connections 12000; }}
http {{
    access_log off;
{temp_paths}
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    nchan_max_reserved_memory 256M;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /healthz {{ return 200 "ok"; }}
        location ~ ^/sub/([\\w-]+)$ {{
            nchan_subscriber longpoll;
            nchan_channel_id $1;
            nchan_subscriber_first_message newest;
            nchan_subscriber_timeout {timeout}s;
        }}
        location ~ ^/pub/([\\w-]+)$ {{
            nchan_publisher http;
            nchan_channel_id $1;
            nchan_message_buffer_length 16;
            nchan_message_timeout 5m;
        }}
    }}
}}
"""


def open_files() -> list[str]:
    """Holding HELD polls needs as many sockets in the load client: raise the soft limit to the hard one."""
    if "hold" not in PARTS and "nchan" not in PARTS:
        return []
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = HELD + 2000
    return [f"the open-files limit is {hard}; holding {HELD} polls needs ~{need} (ulimit -n)"] if hard < need else []


# ---- /proc memory -----------------------------------------------------------------------------


def rss_kb(root: int) -> dict[str, Any]:
    """VmRSS (and its anonymous part) of a process and all its descendants, in KB."""
    total, anon, per = 0, 0, {}
    for pid in common.tree_pids(root):
        with contextlib.suppress(OSError):
            fields = {}
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    fields[key] = int(value.split()[0])
            if "VmRSS" in fields:
                total += fields["VmRSS"]
                anon += fields.get("RssAnon", 0)
                per[str(pid)] = fields["VmRSS"]
    return {"vmrss_kb": total, "rss_anon_kb": anon, "per_process_kb": per}


def established(port: int) -> int:
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


# ---- the run ----------------------------------------------------------------------------------


def main() -> int:
    return common.bench_main(settings(), measure, render, more_problems=open_files)


def measure(session: Session) -> int:
    from services.auth.service import SigningKey

    s, fleet, tmp = session.settings, session.fleet, session.tmp
    results = session.results(tools=("nginx",))
    log(f"machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}; temp dir {tmp}")
    common.fresh_database(s)
    common.flush_redis(s)
    fleet.migrate()
    fleet.env["BEAT_SCHEDULE_FILE"] = str(tmp / "celerybeat-schedule")
    commands = fleet.start_procfile(*FLEET)
    conf = NCHAN_CONF.format(
        user=fleet.nginx_user(),
        module=NCHAN_MODULE,
        workers=NCHAN_WORKERS,
        tmp=tmp,
        temp_paths=fleet.nginx_temp_paths("nchan"),
        port=s.ports["nchan"],
        timeout=POLL_TIMEOUT,
    )
    fleet.start_nginx("nginx", conf)

    # While the fleet boots: tokens for the held polls (the fleet's own key, random user ids).
    key = SigningKey.from_pem(Path(fleet.env["AUTH_JWT_PRIVATE_KEY_FILE"]).read_text())
    minted = time.perf_counter()
    tokens = mint_tokens(key, HELD if "hold" in PARTS else 1)
    log(f"minted {len(tokens)} access tokens in {time.perf_counter() - minted:.1f}s")

    fleet.wait_ready("auth", "user", "hug", "notification", "gateway")
    fleet.wait_http("nginx", s.url("nchan") + "/healthz")
    for name in ("worker", "relay", "beat"):
        if fleet.procs[name].poll() is not None:
            raise SystemExit(f"{name} exited with {fleet.procs[name].returncode}:\n{fleet.log_tail(name)}")
    results["config"] = {
        "commands": commands,
        "gateway_workers": GATEWAY_WORKERS,
        "notification_workers": NOTIFICATION_WORKERS,
        "worker_connections": WORKER_CONNECTIONS,
        "worker_concurrency": WORKER_CONCURRENCY,
        "nchan_workers": NCHAN_WORKERS,
        "hug_rate": HUG_RATE,
        "hug_duration_s": HUG_DURATION,
        "hug_warmup_s": HUG_WARMUP,
        "recipients": RECIPIENTS,
        "senders": SENDERS,
        "held": HELD,
        "deliveries": DELIVERIES,
        "ramp_rate": RAMP_RATE,
        "poll_timeout_s": POLL_TIMEOUT,
        "rate_limits": "gateway per-IP/per-user/auth limits and HUG_FLOOD_LIMIT = 1e8",
        "log_level": "INFO (JSON access logs to files, as in production)",
        "redis": s.redis_url,
        "database": s.database,
        "parts": sorted(PARTS),
    }
    log("fleet up: " + ", ".join(f"{n} :{p}" for n, p in s.ports.items()) + f" (logs in {tmp})")
    session.roots = fleet.roots(*FLEET, "nginx")
    rpid = common.redis_server_pid(s.redis_url)
    if rpid:
        session.roots["redis"] = rpid

    parts = (
        ("hugs", lambda: part_hugs(session)),
        ("nchan", lambda: part_nchan(session)),
        ("hold", lambda: part_hold(session, tokens)),
    )
    for part, measure in parts:
        if part not in PARTS:
            continue
        try:
            results[part] = measure()
        except (Exception, SystemExit) as exc:  # a failed part is reported; the others still run
            if isinstance(exc, SystemExit) and not isinstance(exc.code, str):
                raise  # a signal
            log(f"{part} FAILED: {exc}")
            results.setdefault("failed", {})[part] = str(exc)[-3000:]

    results["log_findings"] = log_findings(tmp)
    results["targets"] = evaluate(results)
    return common.finish(session, results, render)


FINDINGS = {
    "notification": (
        "QueuePool limit",  # the service's SQLAlchemy pool (5 + 10 per worker) stayed empty for 30 s
        "remaining connection slots are reserved",  # PostgreSQL's max_connections reached (a shared server)
        "Too many open files",
        "WORKER TIMEOUT",
    ),
    "gateway": ("upstream.circuit_open", "upstream.timeout", "Too many open files", "WORKER TIMEOUT"),
}


def log_findings(tmp: Path) -> dict[str, dict[str, int]]:
    """How often a few known failure messages appear in the services' logs of this run."""
    out: dict[str, dict[str, int]] = {}
    for name, patterns in FINDINGS.items():
        path = tmp / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        found = {p: text.count(p) for p in patterns if p in text}
        if found:
            out[name] = found
    return out


def mint_tokens(key: Any, n: int) -> list[tuple[str, str]]:
    """(user id, access token) pairs signed like the auth service's (shared.testing.mint_token),
    valid for an hour. The key is handed over parsed: PyJWT would otherwise parse the PEM (and check
    the RSA key) for every token, which for 10,000 tokens is minutes instead of seconds."""
    from shared.testing import mint_token

    out = []
    for _ in range(n):
        user_id = str(uuid.uuid4())
        out.append((user_id, mint_token(key.private_key, key.kid, subject=user_id, lifetime=3600)))
    return out


def client_argv(mode: str, cfg_path: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), mode, str(cfg_path)]


# ---- 1. hug → held poll ------------------------------------------------------------------------


def register_users(gateway: str, n: int, label: str) -> list[dict[str, str]]:
    users = []
    for _ in range(n):
        name = f"{label}_{uuid.uuid4().hex[:10]}"
        status, body = common.http_json(
            "POST",
            gateway + "/api/v1/auth/register",
            {"username": name, "email": f"{name}@example.com", "password": "a soft warm blanket"},
        )
        if status != 201:
            raise SystemExit(f"register failed: {status} {body}")
        users.append({"id": body["user"]["id"], "token": body["access_token"]})
    return users


def part_hugs(session: Session) -> dict[str, Any]:
    fleet = session.fleet
    gateway = session.settings.url("gateway")
    t0 = time.monotonic()
    senders = register_users(gateway, SENDERS, "sender")
    recipients = register_users(gateway, RECIPIENTS, "recipient")
    # The user service learns of them from UserRegistered (relay → worker); then hugs from anyone.
    deadline = time.monotonic() + 60
    for person in recipients:
        while True:
            status, body = common.http_json(
                "PUT", gateway + "/api/v1/users/me/privacy", {"allow_hugs_from": "anyone"}, token=person["token"]
            )
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"recipient profile not ready: {status} {body}\n{fleet.log_tail('worker')}")
            time.sleep(0.2)
    for person in senders:  # their profiles too (the hug service asks about the pair)
        while common.http_json("GET", gateway + "/api/v1/users/me", token=person["token"])[0] != 200:
            if time.monotonic() > deadline:
                raise SystemExit("sender profile not ready")
            time.sleep(0.2)
    log(
        f"registered {SENDERS} senders and {RECIPIENTS} recipients through the gateway in"
        f" {time.monotonic() - t0:.1f}s; recipients accept hugs from anyone"
    )
    result = {"poll_mode": HUG_POLLS}
    if LOW_RATE > 0:
        result["low_rate"] = hug_run(session, senders, recipients, LOW_RATE, LOW_DURATION, 1.0, "low")
    result.update(hug_run(session, senders, recipients, HUG_RATE, HUG_DURATION, HUG_WARMUP, "target"))
    return result


def hug_run(
    session: Session,
    senders: list[dict[str, str]],
    recipients: list[dict[str, str]],
    rate: float,
    duration: float,
    warmup: float,
    label: str,
) -> dict[str, Any]:
    fleet, tmp = session.fleet, session.tmp
    cfg = {
        "gateway_port": session.settings.ports["gateway"],
        "notification_port": session.settings.ports["notification"],
        "senders": senders,
        "recipients": recipients,
        "rate": rate,
        "duration": duration,
        "warmup": warmup,
        "grace": 15.0,
        "poll_mode": HUG_POLLS,
    }
    cfg_path = tmp / f"hugs-{label}.json"
    cfg_path.write_text(json.dumps(cfg))
    quiet = session.settle(f"hugs {label}")
    polls = len(recipients) * (2 if HUG_POLLS == "both" else 1)
    log(
        f"hugs ({label}): {rate:g}/s open loop for {warmup:g}+{duration:g}s through the gateway;"
        f" {polls} held polls ({HUG_POLLS}: gateway / direct) ..."
    )
    meter = session.meter()
    proc = fleet.track(
        subprocess.Popen(client_argv("--hugs", cfg_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    )
    backlog = Backlog(fleet.env["DATABASE_URL"], fleet.env["REDIS_URL"])
    backlog.start()
    try:
        out, err = proc.communicate(timeout=warmup + duration + 120)
    finally:
        backlog.stop()
    if proc.returncode != 0:
        raise SystemExit(f"the hugs client failed ({proc.returncode}):\n{err[-3000:]}")
    raw = json.loads(out)
    measured = [h for h in raw["hugs"] if not h["warmup"]]
    cpu = meter.stop(len(raw["hugs"]))  # the meter spans warm-up and measurement: every hug sent
    result: dict[str, Any] = {
        "rate": rate,
        "duration_s": duration,
        "warmup_s": warmup,
        "before": quiet,
        "cpu": cpu,
        "backlog": backlog.summary(),
    }
    statuses: dict[str, int] = {}
    for h in raw["hugs"]:
        statuses[str(h["status"])] = statuses.get(str(h["status"]), 0) + 1
    post_ms = [(h["returned"] - h["due"]) * 1000 for h in measured]
    result["post"] = {
        "statuses_all": statuses,
        "errors_sample": [h["error"] for h in raw["hugs"] if h.get("error")][:5],
        "latency_from_due_ms": percentiles(post_ms),
        "achieved_rate": round(len(measured) / max(measured[-1]["sent"] - measured[0]["due"], 1e-9), 1)
        if measured
        else 0,
        "behind_schedule_ms_max": round(max((h["sent"] - h["due"]) * 1000 for h in measured), 2) if measured else None,
    }
    ok = [h for h in measured if h.get("hug_id")]
    for path in ("gateway", "direct"):
        arrived = raw["arrivals"][path]
        mine = [h for h in ok if path in h["paths"]]
        lat = [(arrived[h["hug_id"]] - h["returned"]) * 1000 for h in mine if h["hug_id"] in arrived]
        lat_due = [(arrived[h["hug_id"]] - h["due"]) * 1000 for h in mine if h["hug_id"] in arrived]
        result[path] = {
            "created": len(mine),
            "delivered": len(lat),
            "missing": len(mine) - len(lat),
            "from_post_return_ms": percentiles(lat),
            "from_scheduled_send_ms": percentiles(lat_due),
            "before_post_returned": sum(1 for x in lat if x < 0),
        }
    both = [
        (raw["arrivals"]["gateway"][h["hug_id"]] - raw["arrivals"]["direct"][h["hug_id"]]) * 1000
        for h in ok
        if h["hug_id"] in raw["arrivals"]["gateway"] and h["hug_id"] in raw["arrivals"]["direct"]
    ]
    result["gateway_minus_direct_per_hug_ms"] = percentiles(both)
    all_lat = [
        (raw["arrivals"][p][h["hug_id"]] - h["returned"]) * 1000
        for h in ok
        for p in h["paths"]
        if h["hug_id"] in raw["arrivals"][p]
    ]
    result["all_from_post_return_ms"] = percentiles(all_lat)
    result["stages_ms"] = stages(fleet.env["DATABASE_URL"], raw, ok)
    # Per second of the schedule: is the delay steady, or growing (a queue building up)?
    start = raw["start"]
    timeline = []
    for second in range(int(warmup + duration)):
        in_second = [h for h in raw["hugs"] if second <= h["due"] - start < second + 1]
        lat = [
            (raw["arrivals"][p][h["hug_id"]] - h["returned"]) * 1000
            for h in in_second
            for p in h["paths"]
            if h.get("hug_id") in raw["arrivals"][p]
        ]
        post = [(h["returned"] - h["due"]) * 1000 for h in in_second]
        q = percentiles(lat)
        timeline.append(
            {
                "second": second,
                "warmup": second < warmup,
                "delivery_p50_ms": q["p50"],
                "delivery_max_ms": q["max"],
                "post_p50_ms": percentiles(post)["p50"],
            }
        )
    result["timeline"] = timeline
    result["poll_errors"] = raw["poll_errors"]
    result["poll_error_count"] = raw["poll_error_count"]
    result["poll_answers"] = raw["poll_answers"]
    g, d = result["gateway"]["from_post_return_ms"], result["direct"]["from_post_return_ms"]
    b = result["backlog"]
    log(
        f"hugs ({label}): {len(ok)}/{len(measured)} created ({statuses}); delivered gateway"
        f" {result['gateway']['delivered']}/{result['gateway']['created']}, direct"
        f" {result['direct']['delivered']}/{result['direct']['created']}; from POST return p50/p90/p99/max: gateway"
        f" {g['p50']}/{g['p90']}/{g['p99']}/{g['max']} ms, direct {d['p50']}/{d['p90']}/{d['p99']}/{d['max']} ms;"
        f" Celery queue max {b['celery_queue_max']}, outbox max {b['outbox_unpublished_max']};"
        f" other load {cpu['background_cores']} cores"
    )
    return result


def stages(database_url: str, raw: dict[str, Any], hugs: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a hug's delivery time goes, from PostgreSQL's own timestamps (now() = the start of
    each transaction): POST returned → the relay's publishing transaction (outbox.published_at) →
    the notification consumer's transaction (notifications.created_at) → the poll answered."""
    import psycopg2

    perf0, wall0 = raw["clock"]
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT payload->'data'->>'hug_id', extract(epoch from published_at) FROM hugs.outbox"
                " WHERE event_type = 'HugSent' AND published_at IS NOT NULL"
            )
            published = dict(cur.fetchall())
            cur.execute(
                "SELECT data->>'hug_id', extract(epoch from created_at) FROM notifications.notifications"
                " WHERE type = 'hug_received'"
            )
            consumed = dict(cur.fetchall())
    finally:
        conn.close()
    relay, celery, answer = [], [], []
    for h in hugs:
        hid = h["hug_id"]
        arrived = [raw["arrivals"][p][hid] for p in h["paths"] if hid in raw["arrivals"][p]]
        if hid not in published or hid not in consumed or not arrived:
            continue
        returned = h["returned"] - perf0 + wall0
        relay.append((float(published[hid]) - returned) * 1000)
        celery.append((float(consumed[hid]) - float(published[hid])) * 1000)
        answer.append((min(arrived) - perf0 + wall0 - float(consumed[hid])) * 1000)
    return {
        "post_returned_to_relay_publishes": percentiles(relay),
        "relay_to_consumer_starts": percentiles(celery),
        "consumer_starts_to_poll_answered": percentiles(answer),
    }


class Backlog:
    """Samples, every 0.25 s, how much of the pipeline is waiting: the hug service's unpublished
    outbox rows (the relay's backlog) and the Celery queue's length (the worker's)."""

    def __init__(self, database_url: str, redis_url: str):
        self.database_url = database_url
        self.redis_url = redis_url
        self.samples: list[tuple[float, int, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg2
        import redis

        conn = psycopg2.connect(self.database_url)
        conn.autocommit = True
        client = redis.Redis.from_url(self.redis_url)
        t0 = time.monotonic()
        try:
            while not self.stopping.wait(0.25):
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM hugs.outbox WHERE published_at IS NULL")
                    outbox = cur.fetchone()[0]
                queued = sum(client.llen(service_queue(s)) for s in SERVICES)
                self.samples.append((round(time.monotonic() - t0, 2), outbox, queued))
        finally:
            conn.close()
            client.close()

    def summary(self) -> dict[str, Any]:
        outbox = [s[1] for s in self.samples]
        queued = [s[2] for s in self.samples]
        return {
            "outbox_unpublished_max": max(outbox, default=None),
            "outbox_unpublished_mean": round(sum(outbox) / len(outbox), 1) if outbox else None,
            "celery_queue_max": max(queued, default=None),
            "celery_queue_mean": round(sum(queued) / len(queued), 1) if queued else None,
            "samples": self.samples,
        }


# ---- 2 + 3. held polls: Nchan, then HugMood -----------------------------------------------------


class Holder:
    """The --hold client as a subprocess; its counters, read from its stdout as it runs."""

    def __init__(self, fleet: common.Fleet, cfg: dict[str, Any], cfg_path: Path, log_path: Path):
        cfg_path.write_text(json.dumps(cfg))
        stderr = open(log_path, "wb")  # noqa: SIM115 (lives as long as the process)
        argv = client_argv("--hold", cfg_path)
        self.proc = fleet.track(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True))
        self.stats: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.stats = json.loads(line)
                self.history.append(self.stats)

    def wait_held(self, n: int, timeout: float, label: str) -> float:
        """Until n polls are open and waiting (client side), or all n were opened 10 s ago and some
        failed meanwhile (measured as they are; the errors are reported); returns the seconds it took."""
        t0 = time.monotonic()
        last = 0.0
        all_opened = None
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"the {label} holder exited with {self.proc.returncode}")
            s = self.stats
            if s.get("opened", 0) >= n and s.get("pending", 0) >= n:
                return time.monotonic() - t0
            if s.get("opened", 0) >= n:
                all_opened = all_opened or time.monotonic()
                if time.monotonic() - all_opened > 10:
                    log(f"{label}: all {n} opened but only {s.get('pending')} waiting (errors {s.get('error_kinds')})")
                    return time.monotonic() - t0
            if time.monotonic() - last > 5:
                last = time.monotonic()
                log(f"{label}: {s.get('opened', 0)} opened, {s.get('pending', 0)} waiting, errors {s.get('errors', 0)}")
            time.sleep(0.2)
        raise SystemExit(f"{label}: only {self.stats} after {timeout:.0f}s")

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self.stats


def settle_after_ramp(session: Session, names: tuple[str, ...], limit: float = 30.0) -> float:
    """Wait until the processes holding the polls are idle (the ramp's requests all handled)."""
    t0 = time.monotonic()
    roots = {n: session.roots[n] for n in names}
    while time.monotonic() - t0 < limit:
        before = session.snapshot(roots)
        time.sleep(0.5)
        after = session.snapshot(roots)
        busy = sum(after[n] - before[n] for n in names) / (after["wall"] - before["wall"])
        if busy < 0.1:
            break
    return round(time.monotonic() - t0, 1)


def part_nchan(session: Session) -> dict[str, Any]:
    fleet, tmp = session.fleet, session.tmp
    port = session.settings.ports["nchan"]
    nginx_root = fleet.procs["nginx"].pid
    before = rss_kb(nginx_root)
    n_other = HELD - 1
    log(f"nchan: holding {n_other} longpoll subscribers (+1 probe), {RAMP_RATE * 4:g}/s ...")
    holder = Holder(
        fleet,
        {
            "port": port,
            "kind": "nchan",
            "ramp_rate": RAMP_RATE * 4,
            "items": [{"chan": f"u{i}"} for i in range(n_other)],
        },
        tmp / "hold-nchan.json",
        tmp / "hold-nchan.log",
    )
    try:
        ramp_s = holder.wait_held(n_other, 120, "nchan")
        settled = settle_after_ramp(session, ("nginx",))
        during = rss_kb(nginx_root)
        conns = established(port)
        result: dict[str, Any] = {
            "held_client_side": holder.stats.get("pending"),
            "established_server_side": conns,
            "ramp_s": round(ramp_s, 1),
            "settle_s": settled,
            "rss_before": before,
            "rss_holding": during,
        }
        delta = during["vmrss_kb"] - before["vmrss_kb"]
        result["kb_per_held"] = round(delta / max(n_other, 1), 2)
        result["anon_kb_per_held"] = round((during["rss_anon_kb"] - before["rss_anon_kb"]) / max(n_other, 1), 2)
        log(
            f"nchan: {conns} connections held; nginx RSS {before['vmrss_kb'] / 1024:.1f} →"
            f" {during['vmrss_kb'] / 1024:.1f} MB"
            f" = {result['kb_per_held']} KB per held subscriber"
        )
        quiet = session.settle("nchan delivery")
        meter = session.meter()
        result["delivery"] = probe_nchan(port)
        result["delivery"]["cpu"] = meter.stop(DELIVERIES)
        result["delivery"]["before"] = quiet
        result["holder_end"] = holder.stats
    finally:
        result_end = holder.stop()
    result["holder_end"] = result_end
    q = result["delivery"]["publish_to_answer_ms"]
    log(f"nchan: publish → held subscriber answers p50/p90/p99/max {q['p50']}/{q['p90']}/{q['p99']}/{q['max']} ms")
    return result


NCHAN_PAYLOAD = json.dumps(
    {
        "id": str(uuid.uuid4()),
        "type": "hug_received",
        "title": "You got a hug",
        "body": "You received a Warm hug.",
        "data": {"hug_id": str(uuid.uuid4()), "sender_id": str(uuid.uuid4())},
        "is_read": False,
        "read_at": None,
        "created_at": "2026-11-22T00:00:00Z",
    }
).encode()


def probe_nchan(port: int) -> dict[str, Any]:
    sub, pub = HttpConn("127.0.0.1", port), HttpConn("127.0.0.1", port)
    headers: dict[str, str] = {}
    chan = "probe"
    lat, after_post, early, bad = [], [], 0, []
    for i in range(DELIVERIES):
        sub.send("GET", f"/sub/{chan}", headers)
        time.sleep(PROBE_GAP)
        if sub.readable():
            bad.append(f"answered before publishing (#{i})")
        t0 = time.perf_counter()
        status, _, _ = pub.request("POST", f"/pub/{chan}", {"Content-Type": "application/json"}, NCHAN_PAYLOAD)
        t1 = time.perf_counter()
        if sub.readable():
            early += 1
        status_s, rheaders, body = sub.read()
        t2 = time.perf_counter()
        if status not in (201, 202) or status_s != 200 or body != NCHAN_PAYLOAD:
            bad.append(f"#{i}: publish {status}, subscriber {status_s} {body[:100]!r}")
        headers = {"If-Modified-Since": rheaders.get("last-modified", ""), "If-None-Match": rheaders.get("etag", "")}
        lat.append((t2 - t0) * 1000)
        after_post.append((t2 - t1) * 1000)
    sub.close()
    pub.close()
    return {
        "n": DELIVERIES,
        "publish_to_answer_ms": percentiles(lat),
        "after_post_returned_ms": percentiles(after_post),
        "answered_before_post_returned": early,
        "problems": bad[:10],
    }


def raw_psycopg2(database_url: str) -> dict[str, Any]:
    """The floor under the consumer's durable write: psycopg2 alone, with the probe's idle gap
    before each call, in the same conditions (10,000 polls held). A `SELECT 1` round trip, and a
    one-row INSERT committed on its own (WAL flushed, as every notification's statement is)."""
    import psycopg2

    conn = psycopg2.connect(database_url, application_name="bench-raw")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TABLE bench_raw_commit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
    timed: dict[str, list[float]] = {"select_1_ms": [], "insert_commit_ms": []}
    try:
        for statement, key in (
            ("SELECT 1", "select_1_ms"),
            ("INSERT INTO bench_raw_commit DEFAULT VALUES", "insert_commit_ms"),
        ):
            for _ in range(DELIVERIES):
                time.sleep(PROBE_GAP)
                t0 = time.perf_counter()
                cur.execute(statement)
                timed[key].append((time.perf_counter() - t0) * 1000)
    finally:
        cur.execute("DROP TABLE bench_raw_commit")
        conn.close()
    return {key: percentiles(values) for key, values in timed.items()}


def part_hold(session: Session, tokens: list[tuple[str, str]]) -> dict[str, Any]:
    from shared.pagination import encode_cursor

    fleet, tmp, roots, ports = session.fleet, session.tmp, session.roots, session.settings.ports
    names = ("gateway", "notification")
    probe_user, probe_token = tokens[0]
    others = tokens[1:HELD]
    # app built, cursor known, consumer warm: before the ramp
    probe = Probe(fleet, ports["gateway"], probe_user, probe_token)
    before = {n: rss_kb(roots[n]) for n in names}
    cursor0 = encode_cursor(0)  # a fresh user's cursor (no notifications yet): polls are held at once
    log(
        f"hold: {len(others)} long polls through the gateway (+1 probe), {RAMP_RATE:g}/s;"
        f" gateway {GATEWAY_WORKERS} + notification {NOTIFICATION_WORKERS} gevent workers,"
        f" {WORKER_CONNECTIONS} connections each ..."
    )
    holder = Holder(
        fleet,
        {
            "port": ports["gateway"],
            "kind": "hugmood",
            "ramp_rate": RAMP_RATE,
            "items": [{"token": t, "cursor": cursor0} for _, t in others],
        },
        tmp / "hold-hugmood.json",
        tmp / "hold-hugmood.log",
    )
    ramp_started = time.monotonic()
    result: dict[str, Any] = {"rss_before": before}
    try:
        meter = session.meter()
        ramp_s = holder.wait_held(len(others), len(others) / RAMP_RATE + 120, "hold")
        ramp_cpu = meter.stop(len(others))
        time.sleep(1.0)  # the last requests reach their wait
        during = {n: rss_kb(roots[n]) for n in names}
        result.update(
            held_client_side=holder.stats.get("pending"),
            gateway_client_connections=established(ports["gateway"]),
            notification_connections=established(ports["notification"]),
            gateway_conns_per_worker=common.conn_spread(ports["gateway"]),
            notification_conns_per_worker=common.conn_spread(ports["notification"]),
            ramp_s=round(ramp_s, 1),
            settle_s=1.0,
            ramp_cpu_ms_per_poll=ramp_cpu["cpu_ms_per_request"],
            ramp_background_cores=ramp_cpu["background_cores"],
            rss_holding=during,
        )
        per = {n: (during[n]["vmrss_kb"] - before[n]["vmrss_kb"]) / len(others) for n in names}
        result["kb_per_held"] = {n: round(v, 2) for n, v in per.items()}
        result["kb_per_held"]["both"] = round(sum(per.values()), 2)
        result["anon_kb_per_held_both"] = round(
            sum(during[n]["rss_anon_kb"] - before[n]["rss_anon_kb"] for n in names) / len(others), 2
        )
        log(
            f"hold: {holder.stats.get('pending')} waiting; connections client→gateway"
            f" {result['gateway_client_connections']}, gateway→notification {result['notification_connections']};"
            f" RSS gateway {before['gateway']['vmrss_kb'] / 1024:.1f} → {during['gateway']['vmrss_kb'] / 1024:.1f} MB,"
            f" notification {before['notification']['vmrss_kb'] / 1024:.1f} →"
            f" {during['notification']['vmrss_kb'] / 1024:.1f} MB: {result['kb_per_held']['both']} KB per held poll"
            f" ({result['kb_per_held']})"
        )
        # At once (the machine is not going to be quiet: see holding_idle), and if possible before
        # the first polls time out (POLL_TIMEOUT s after the ramp began) and come back.
        stats_before = dict(holder.stats)
        meter = session.meter()
        window = [round(time.monotonic() - ramp_started, 1)]
        try:
            result["delivery"] = probe.run()
            result["delivery"]["cpu"] = meter.stop(DELIVERIES)
        except (Exception, SystemExit) as exc:
            log(f"hold: the single-user delivery FAILED: {exc}")
            result["delivery"] = {"error": str(exc)[-2000:]}
        window.append(round(time.monotonic() - ramp_started, 1))
        stats_after = dict(holder.stats)
        result["raw_psycopg2"] = raw_psycopg2(fleet.env["DATABASE_URL"])
        result["delivery"]["seconds_since_ramp_began"] = window
        result["delivery"]["other_polls_answered_meanwhile"] = stats_after.get("answered", 0) - stats_before.get(
            "answered", 0
        )
        # What merely holding them costs: CPU while nothing is delivered.
        answered0 = holder.stats.get("answered", 0)
        meter = session.meter()
        time.sleep(HOLD_IDLE_S)
        idle = meter.stop(1)
        result["holding_idle"] = {
            "seconds": HOLD_IDLE_S,
            "cores": {n: round(idle["cpu_s"][n] / idle["wall_s"], 3) for n in ("gateway", "notification", "postgres")},
            "other_load_cores": idle["background_cores"],
            "polls_answered_meanwhile": holder.stats.get("answered", 0) - answered0,
            "seconds_since_ramp_began": round(time.monotonic() - ramp_started, 1),
        }
        # Then through the first wave of timeouts: do the held polls stay held?
        until = ramp_started + POLL_TIMEOUT + SUSTAIN_EXTRA_S
        log(f"hold: holding on through the first poll timeouts, until {POLL_TIMEOUT + SUSTAIN_EXTRA_S:g} s ...")
        while time.monotonic() < until:
            time.sleep(0.5)
        t0 = holder.history[0]["t"] if holder.history else 0
        result["timeline"] = [
            {k: h.get(k) for k in ("pending", "answered", "timeouts", "errors")} | {"s": round(h["t"] - t0)}
            for h in holder.history[::5]
        ]
        result["holder_end"] = dict(holder.stats)
    finally:
        holder.stop()
        probe.close()
    e = result.get("holder_end", {})
    result["sustained"] = bool(e) and e.get("pending", 0) >= 0.99 * len(others) and not e.get("errors")
    log(
        f"hold: at {POLL_TIMEOUT + SUSTAIN_EXTRA_S:g} s: {e.get('pending')} waiting, {e.get('timeouts')} re-issued,"
        f" errors {e.get('errors')} {e.get('error_kinds')}"
    )
    if "error" not in result["delivery"]:
        q = result["delivery"]["create_to_answer_ms"]
        log(f"hold: consumer call → held poll answers p50/p90/p99/max {q['p50']}/{q['p90']}/{q['p99']}/{q['max']} ms")
    return result


class Probe:
    """One user's poll through the gateway; a HugSent event handled by the notification service's
    own consumer in this process (claim, rows, commit, wake-up), timed until the poll answers."""

    def __init__(self, fleet: common.Fleet, gateway_port: int, user_id: str, token: str):
        for k in ("DATABASE_URL", "REDIS_URL", "AUTH_URL", "USER_URL", "DATABASE_ROLE_PASSWORD"):
            if k in fleet.env:
                os.environ[k] = fleet.env[k]
        os.environ["LOG_LEVEL"] = "WARNING"
        from services.notification import tasks
        from services.notification.service import inbox

        self.tasks = tasks
        tasks.app()  # build the app (engine, Redis client) before timing anything
        # The consumer calls inbox.wake once its statement has committed: when it is called, the
        # notification exists and is durable. Timing from there measures delivery alone, as
        # Nchan's publish → answer does (Nchan stores nothing durable first). The consumer offers
        # no hook for that moment, so the probe wraps inbox.wake in this process, and close()
        # puts it back.
        self.committed_at = 0.0
        self.inbox, self.publish = inbox, inbox.wake

        def wake(*args: Any, **kwargs: Any) -> None:
            self.committed_at = time.perf_counter()
            self.publish(*args, **kwargs)

        inbox.wake = wake
        self.user_id = user_id
        self.sender = str(uuid.uuid4())
        self.conn = HttpConn("127.0.0.1", gateway_port)
        self.auth = {"Authorization": f"Bearer {token}"}
        status, _, body = self.conn.request("GET", POLL, self.auth)
        if status != 200:
            raise SystemExit(f"probe's first poll: {status} {body[:300]!r}")
        cursor = json.loads(body)["cursor"]
        tasks.on_hug_sent(self.event(-1))  # warm the consumer's code paths (preferences, counters), untimed
        status, _, body = self.conn.request("GET", f"{POLL}?cursor={cursor}&timeout=5", self.auth)
        self.cursor = json.loads(body)["cursor"]

    def event(self, i: int) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "type": "HugSent",
            "data": {
                "hug_id": str(uuid.uuid4()),
                "sender_id": self.sender,
                "recipient_id": self.user_id,
                "type": "warm",
                "type_label": "Warm hug",
                "message": f"probe {i}",
            },
        }

    def close(self) -> None:
        self.conn.close()
        self.inbox.wake = self.publish

    def run(self) -> dict[str, Any]:
        self.conn.close()  # a fresh connection: the one from before the ramp has idled past gunicorn's keep-alive
        conn, auth = self.conn, self.auth
        lat, after_return, after_commit, consumer_ms, early, bad = [], [], [], [], 0, []
        for i in range(DELIVERIES):
            ev = self.event(i)
            conn.send("GET", f"{POLL}?cursor={self.cursor}&timeout={POLL_TIMEOUT}", auth)
            time.sleep(PROBE_GAP)
            if conn.readable():
                bad.append(f"answered before the notification was created (#{i})")
            t0 = time.perf_counter()
            self.tasks.on_hug_sent(ev)
            t1 = time.perf_counter()
            if conn.readable():
                early += 1
            status, _, body = conn.read()
            t2 = time.perf_counter()
            items = json.loads(body)["items"] if status == 200 else []
            if status == 200:
                self.cursor = json.loads(body)["cursor"]
            consumer_ms.append((t1 - t0) * 1000)
            if status != 200 or [it["data"]["hug_id"] for it in items] != [ev["data"]["hug_id"]]:
                bad.append(f"#{i}: {status} {body[:200]!r}")
                continue  # only a poll that answered with this notification counts as a delivery
            lat.append((t2 - t0) * 1000)
            after_return.append((t2 - t1) * 1000)
            after_commit.append((t2 - self.committed_at) * 1000)
        return {
            "n": DELIVERIES,
            "delivered": len(lat),
            "create_to_answer_ms": percentiles(lat),
            "after_consumer_returned_ms": percentiles(after_return),
            "commit_to_answer_ms": percentiles(after_commit),
            "consumer_call_ms": percentiles(consumer_ms),
            "answered_before_consumer_returned": early,
            "problems": bad[:10],
            "problem_count": len(bad),
        }


# ---- report -----------------------------------------------------------------------------------


def evaluate(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "hugs" in r:
        p99 = r["hugs"]["gateway"]["from_post_return_ms"]["p99"]
        post_errors = sum(v for k, v in r["hugs"]["post"]["statuses_all"].items() if k != "201")
        complete = r["hugs"]["gateway"]["missing"] == 0 and r["hugs"]["gateway"]["created"] > 0 and not post_errors
        out["hug_p99_ms"] = {
            "value": p99,
            "target": f"<= 25 ms at {HUG_RATE:g} hugs/s (through the gateway)",
            "met": bool(complete and p99 is not None and p99 <= TARGETS["hug_p99_ms"]),
        }
        if post_errors or r["hugs"]["gateway"]["missing"]:
            out["hug_p99_ms"]["target"] += f" INVALID RUN: {post_errors} POSTs failed"
    if "hold" in r:
        kb = r["hold"]["kb_per_held"]["both"]
        out["kb_per_poll"] = {
            "value": kb,
            "target": "<= 25 KB per held poll (gateway + notification)",
            "met": kb <= TARGETS["kb_per_poll"],
        }
        if "nchan" in r:
            out["kb_per_poll"]["x_nchan"] = round(kb / max(r["nchan"]["kb_per_held"], 0.001), 1)
        if "error" in r["hold"]["delivery"]:
            out["single_p99_ms"] = {"value": None, "target": f"<= 5 ms with {HELD} held", "met": False}
            return out
        p99 = r["hold"]["delivery"]["create_to_answer_ms"]["p99"]
        if r["hold"]["delivery"]["problem_count"]:
            failed = r["hold"]["delivery"]["problem_count"]
            out["single_p99_ms"] = {
                "value": p99,
                "target": f"<= 5 ms with {HELD} held; {failed} of the probe's polls FAILED (500/503)",
                "met": False,
            }
            return out
        out["single_p99_ms"] = {
            "value": p99,
            "target": f"<= 5 ms with {HELD} held",
            "met": p99 is not None and p99 <= TARGETS["single_p99_ms"] and not r["hold"]["delivery"]["problem_count"],
        }
        if "nchan" in r:
            out["single_p99_ms"]["x_nchan"] = round(p99 / r["nchan"]["delivery"]["publish_to_answer_ms"]["p99"], 1)
        # The same deliveries timed from the commit (the notification exists and is durable) instead
        # of from the consumer's start: like for like with Nchan's publish → answer. Reported beside
        # the line above, which keeps its meaning (creating the notification included).
        delivered = r["hold"]["delivery"].get("commit_to_answer_ms")
        if delivered and delivered.get("n"):
            out["delivery_p99_ms"] = {
                "value": delivered["p99"],
                "target": f"<= 5 ms with {HELD} held, from the commit",
                "met": delivered["p99"] <= TARGETS["single_p99_ms"],
            }
            if "nchan" in r:
                nchan_p99 = r["nchan"]["delivery"]["publish_to_answer_ms"]["p99"]
                out["delivery_p99_ms"]["x_nchan"] = round(delivered["p99"] / nchan_p99, 1)
    return out


def _q(x: dict[str, Any]) -> str:
    return f"{x['p50']:>8.2f}{x['p90']:>8.2f}{x['p99']:>8.2f}{x['max']:>8.2f}" if x.get("n") else f"{'-':>32}"


def render(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        "",
        common.heading("notification benchmark", r),
        f"gateway {c['gateway_workers']} + notification {c['notification_workers']} gevent workers"
        f" ({c['worker_connections']} connections each), Celery worker -c {c['worker_concurrency']}, relay, beat;"
        f" Nchan: nginx {c['nchan_workers']} workers; all on this machine",
    ]
    if "hugs" in r:
        h = r["hugs"]
        mode = h.get("poll_mode", "split")
        how = (
            "each recipient holds one poll through the gateway and one directly on the notification service"
            if mode == "both"
            else "half the recipients hold their poll through the gateway, half directly on the notification service"
        )
        lines += [
            "",
            f"1. Hug → held poll: hugs POSTed through the gateway open loop, {c['recipients']} recipients,"
            f" {c['senders']} senders; {how}",
            f"  {'from the POST returning to the poll answering':<50}{'delivered':>11}{'p50 ms':>8}{'p90 ms':>8}"
            f"{'p99 ms':>8}{'max ms':>8}",
        ]
        runs = [("low_rate", h["low_rate"])] if "low_rate" in h else []
        runs.append(("target", h))
        for _, x in runs:
            head = f"{x['rate']:g}/s x {x['duration_s']:g} s"
            for name, label in (("gateway", "poll through the gateway"), ("direct", "poll direct (baseline)")):
                y = x[name]
                lines.append(
                    f"  {head + ', ' + label:<50}{y['delivered']:>5}/{y['created']:<5}{_q(y['from_post_return_ms'])}"
                )
            g, d = x["gateway"]["from_post_return_ms"], x["direct"]["from_post_return_ms"]
            if x["gateway_minus_direct_per_hug_ms"].get("n"):
                lines.append(
                    f"  {head + ', gateway − direct, same hug':<50}{'':>11}{_q(x['gateway_minus_direct_per_hug_ms'])}"
                )
            elif g.get("n") and d.get("n"):
                diff = {k: g[k] - d[k] for k in ("p50", "p90", "p99", "max")}
                lines.append(f"  {head + ', gateway − direct (percentiles)':<50}{'':>11}{_q({**diff, 'n': 1})}")
            p = x["post"]
            lq = p["latency_from_due_ms"]
            cpu = x["cpu"]["cpu_ms_per_request"]
            b = x["backlog"]
            lines += [
                f"    hug POST (scheduled send → 201): p50 {lq['p50']} ms, p99 {lq['p99']} ms, max {lq['max']} ms;"
                f" statuses {p['statuses_all']}; achieved {p['achieved_rate']}/s; waiting: Celery queue max"
                f" {b['celery_queue_max']} (mean {b['celery_queue_mean']}),"
                f" hug outbox max {b['outbox_unpublished_max']}",
                "    CPU ms per hug: "
                + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if k != "nginx" and v >= 0.005)
                + f" = {sum(v for k, v in cpu.items() if k != 'nginx'):.1f}; machine {x['cpu']['machine_busy_cores']}"
                f" cores busy, other load {x['cpu']['background_cores']} cores",
            ]
            st = x.get("stages_ms")
            if st:
                lines.append(
                    "    stages p50/p99 ms (PostgreSQL timestamps): POST returned → relay publishes"
                    f" {st['post_returned_to_relay_publishes']['p50']}/{st['post_returned_to_relay_publishes']['p99']},"
                    f" → Celery consumer starts {st['relay_to_consumer_starts']['p50']}/"
                    f"{st['relay_to_consumer_starts']['p99']}, → poll answered"
                    f" {st['consumer_starts_to_poll_answered']['p50']}/{st['consumer_starts_to_poll_answered']['p99']}"
                )
            if x["poll_error_count"]:
                lines.append(f"    poll errors: {x['poll_error_count']} e.g. {x['poll_errors'][:2]}")
        tl = [t for t in h["timeline"] if not t["warmup"]]
        if tl:
            lines.append(
                "  delivery p50 per second of the target run (ms): "
                + " ".join(f"{t['delivery_p50_ms']:.0f}" if t["delivery_p50_ms"] is not None else "-" for t in tl)
            )
    if "hold" in r or "nchan" in r:
        lines += [
            "",
            f"2. {c['held']} held long polls (timeout {c['poll_timeout_s']} s): VmRSS of master + workers,"
            " before → while holding",
            f"  {'':<44}{'held':>7}{'before MB':>11}{'holding MB':>12}{'KB/held':>9}{'anon KB/held':>14}",
        ]
        if "hold" in r:
            x = r["hold"]
            for name in ("gateway", "notification"):
                b, d = x["rss_before"][name]["vmrss_kb"], x["rss_holding"][name]["vmrss_kb"]
                lines.append(
                    f"  {'HugMood ' + name:<44}{x['held_client_side']:>7}{b / 1024:>11.1f}{d / 1024:>12.1f}"
                    f"{x['kb_per_held'][name]:>9.2f}"
                )
            bt = sum(x["rss_before"][n]["vmrss_kb"] for n in ("gateway", "notification"))
            dt = sum(x["rss_holding"][n]["vmrss_kb"] for n in ("gateway", "notification"))
            lines.append(
                f"  {'HugMood gateway + notification':<44}{x['held_client_side']:>7}"
                f"{bt / 1024:>11.1f}{dt / 1024:>12.1f}"
                f"{x['kb_per_held']['both']:>9.2f}{x['anon_kb_per_held_both']:>14.2f}"
            )
        if "nchan" in r:
            x = r["nchan"]
            lines.append(
                f"  {'Nchan (nginx master + workers)':<44}{x['held_client_side']:>7}"
                f"{x['rss_before']['vmrss_kb'] / 1024:>11.1f}{x['rss_holding']['vmrss_kb'] / 1024:>12.1f}"
                f"{x['kb_per_held']:>9.2f}{x['anon_kb_per_held']:>14.2f}"
            )
        if "hold" in r:
            x = r["hold"]
            lines.append(
                f"  HugMood: connections client→gateway {x['gateway_client_connections']} (per worker"
                f" {x['gateway_conns_per_worker']}), gateway→notification {x['notification_connections']} (per worker"
                f" {x['notification_conns_per_worker']}); ramp {x['ramp_s']} s + {x['settle_s']} s to settle;"
                " CPU ms per poll opened: "
                + ", ".join(f"{k} {v:.2f}" for k, v in x["ramp_cpu_ms_per_poll"].items() if v >= 0.005)
                + f"; other load {x['ramp_background_cores']} cores"
            )
        if "hold" in r and "holding_idle" in r["hold"]:
            hi = r["hold"]["holding_idle"]
            lines.append(
                f"  HugMood, just holding them for {hi['seconds']:g} s (nothing delivered): CPU cores"
                + "".join(f" {k} {max(v, 0):.2f}" for k, v in hi["cores"].items())
                + f"; {hi['polls_answered_meanwhile']} polls answered meanwhile; other load"
                f" {hi['other_load_cores']} cores"
            )
        for name in ("hold", "nchan"):
            if name in r:
                e = r[name].get("holder_end") or {}
                if name == "hold" and "sustained" in r[name]:
                    tl = r[name].get("timeline") or []
                    lines.append(
                        f"  HugMood held polls through the first timeouts (60 s after the ramp began):"
                        f" {'sustained' if r[name]['sustained'] else 'NOT SUSTAINED'}; waiting/errors every 5 s: "
                        + " ".join(f"{t['pending']}/{t['errors']}" for t in tl)
                    )
                lines.append(
                    f"  {'HugMood' if name == 'hold' else 'Nchan'} client at the end: {e.get('pending')} waiting,"
                    f" {e.get('timeouts')} timed out and re-issued, {e.get('delivered')} delivered,"
                    f" {e.get('errors')} errors {e.get('error_kinds') or ''}"
                )
        lines += [
            "",
            f"3. Single-user delivery with {c['held']} held: {c['deliveries']} deliveries, each to a held poll",
            f"  {'':<56}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}",
        ]
        if "hold" in r and "error" in r["hold"]["delivery"]:
            lines.append(f"  HugMood: FAILED: {r['hold']['delivery']['error'][:300]}")
        if "hold" in r and "error" not in r["hold"]["delivery"]:
            dl = r["hold"]["delivery"]
            lines += [
                f"  {'HugMood: consumer called → poll answers (via gateway)':<56}{_q(dl['create_to_answer_ms'])}",
                f"  {'  of which the consumer call (claim, rows, commit, wake)':<56}{_q(dl['consumer_call_ms'])}",
                f"  {'  after the consumer returned':<56}{_q(dl['after_consumer_returned_ms'])}",
            ]
            if "commit_to_answer_ms" in dl:  # older results files lack it
                lines.append(
                    f"  {'HugMood: committed → poll answers (wake-up, delivery)':<56}{_q(dl['commit_to_answer_ms'])}"
                )
            raw = r["hold"].get("raw_psycopg2")
            if raw:  # and this
                lines += [
                    f"  {'raw psycopg2, same gap: SELECT 1 round trip':<56}{_q(raw['select_1_ms'])}",
                    f"  {'raw psycopg2, same gap: INSERT one row + commit':<56}{_q(raw['insert_commit_ms'])}",
                ]
        if "nchan" in r:
            dl = r["nchan"]["delivery"]
            lines += [
                f"  {'Nchan: POST /pub sent → subscriber answers':<56}{_q(dl['publish_to_answer_ms'])}",
                f"  {'  after the POST returned':<56}{_q(dl['after_post_returned_ms'])}",
            ]
        if "hold" in r and "error" not in r["hold"]["delivery"]:
            dl = r["hold"]["delivery"]
            lines.append(
                f"  HugMood: measured {dl['seconds_since_ramp_began'][0]}-{dl['seconds_since_ramp_began'][1]} s after"
                f" the ramp began (the first polls time out at {c['poll_timeout_s']} s);"
                f" other polls answered meanwhile {dl['other_polls_answered_meanwhile']};"
                f" delivered {dl.get('delivered', dl['n'])}/{dl['n']}, failed polls {dl['problem_count']}"
                f" {dl['problems'][:1]}; machine {dl['cpu']['machine_busy_cores']} cores busy,"
                f" other load {dl['cpu']['background_cores']} cores; CPU ms per delivery: "
                + ", ".join(f"{k} {v:.2f}" for k, v in dl["cpu"]["cpu_ms_per_request"].items() if v >= 0.005)
            )
    if r.get("log_findings"):
        lines.append(f"\n  In the services' logs: {r['log_findings']}")
    for part, error in r.get("failed", {}).items():
        lines.append(f"\n  PART {part} FAILED: {error[:500]}")
    lines += ["", "Targets"]
    for name, v in r.get("targets", {}).items():
        extra = f"  ({v['x_nchan']}x Nchan)" if "x_nchan" in v else ""
        lines.append(
            f"  {name:<16}{v['value']!s:>9}   target {v['target']:<52}{'MET' if v['met'] else 'MISSED'}{extra}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] in (["--hold"], ["--hugs"]):
        sys.exit(client_main(sys.argv))
    sys.exit(main())
