"""`make run`: the whole fleet on one machine, with embedded PostgreSQL and Redis by default.

Every Procfile process, and the embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are
set, runs under supervisord (the `supervisor` package): one that dies is started again, with a
growing delay if it keeps dying at once, while the others go on serving. This script writes the
supervisord configuration under the data directory, starts the servers first, makes a development
signing key, creates the database and applies migrations, then starts the fleet and prints the
gateway URL. Ctrl-C or SIGTERM stops everything; `supervisorctl -c DATA/supervisord.conf status`
shows each process.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HUGMOOD_DATA_DIR", ROOT / ".data"))
GROUP = "fleet"
# A process that stays up this long counts as started; one that dies sooner is retried after 1 s,
# then 2 s, 3 s... (supervisord's backoff) and given up after RETRIES quick deaths in a row.
START_SECONDS = 2
RETRIES = 10


def load_env_file(path: Path) -> None:
    """Apply KEY=VALUE lines of a .env file to os.environ, without overriding what is set."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def dev_secret(name: str, make) -> str:
    """A development secret kept under .data so it survives restarts."""
    path = DATA / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text()


def wait_until(check, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return True
        time.sleep(0.25)
    return False


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
        return response.status == 200


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def _value(text: str) -> str:
    return text.replace("%", "%%")  # supervisord expands %(name)s in every value


def program(name: str, command: list[str], *, priority: int, autostart: bool, **extra: object) -> str:
    settings = {
        "command": _value(" ".join(shlex.quote(arg) for arg in command)),
        "directory": str(ROOT),
        "priority": priority,
        "autostart": str(autostart).lower(),
        "autorestart": "true",
        "startsecs": START_SECONDS,
        "startretries": RETRIES,
        "stopasgroup": "true",
        "killasgroup": "true",
        "stopwaitsecs": 20,
        "redirect_stderr": "true",
        "stdout_logfile": "/dev/stdout",
        "stdout_logfile_maxbytes": 0,
    } | extra
    return f"[program:{name}]\n" + "".join(f"{key}={value}\n" for key, value in settings.items())


def supervisor_config(servers: dict[str, tuple[list[str], dict[str, object]]]) -> str:
    """supervisord's configuration: the embedded servers first (priority 10), then every Procfile
    process in the group `fleet`, started only once the database is migrated."""
    sections = [
        "[supervisord]\nnodaemon=true\n"
        f"logfile={_value(str(DATA / 'supervisord.log'))}\npidfile={_value(str(DATA / 'supervisord.pid'))}\n"
        "loglevel=info\n",
        f"[unix_http_server]\nfile={_value(str(DATA / 'supervisor.sock'))}\nchmod=0700\n",
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl=unix://{_value(str(DATA / 'supervisor.sock'))}\n",
    ]
    for name, (command, extra) in servers.items():
        sections.append(program(name, command, priority=10, autostart=True, **extra))
    names = list(procfile())
    for name, command in procfile().items():
        # The Procfile's ${VAR:-default} expansions need a shell; exec leaves the process itself to supervise.
        sections.append(program(name, ["/bin/sh", "-c", f"exec {command}"], priority=100, autostart=False))
    sections.append(f"[group:{GROUP}]\nprograms={','.join(names)}\npriority=100\n")
    return "\n".join(sections)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        if self._connection[1] is None:
            self._connection = host, _UnixConnection(self.path)
        return self._connection[1]


def rpc(data_dir: Path = DATA) -> xmlrpc.client.ServerProxy:
    """supervisord's XML-RPC interface over its Unix socket (a context manager that closes it)."""
    return xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(str(data_dir / "supervisor.sock")))


def main() -> int:
    started = time.monotonic()
    sys.path.insert(0, str(ROOT))
    from scripts.embedded import DATABASE, ensure_database, free_port, postgres_command, redis_command
    from services.auth.service import generate_private_key_pem

    load_env_file(ROOT / ".env")
    # A development fleet: its processes accept the default dev-service-secret (shared/config.py).
    os.environ.setdefault("HUGMOOD_ENV", "development")
    # The Procfile's gunicorn, celery and python are the ones installed beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    DATA.mkdir(parents=True, exist_ok=True)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    supervisord = None
    try:
        servers: dict[str, tuple[list[str], dict[str, object]]] = {}
        server_url = None
        if not os.environ.get("DATABASE_URL"):
            command, user, server_url = postgres_command(DATA, free_port())
            # Fast shutdown (SIGINT): SIGTERM would wait for every client to disconnect.
            extra: dict[str, object] = {"stopsignal": "INT", "stopwaitsecs": 60, "startsecs": 1}
            extra |= {"stdout_logfile": _value(str(DATA / "pg" / "server.log")), "stdout_logfile_maxbytes": "10MB"}
            if user:
                extra["user"] = user
            servers["postgres"] = (command, extra)
            os.environ["DATABASE_URL"] = f"{server_url}/{DATABASE}"
        if not os.environ.get("REDIS_URL"):
            port = free_port()
            servers["redis"] = (redis_command(DATA, port), {"startsecs": 1})
            os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        if not (os.environ.get("AUTH_JWT_PRIVATE_KEY") or os.environ.get("AUTH_JWT_PRIVATE_KEY_FILE")):
            dev_secret("jwt-signing-key.pem", generate_private_key_pem)
            os.environ["AUTH_JWT_PRIVATE_KEY_FILE"] = str(DATA / "jwt-signing-key.pem")
        os.environ["ADMIN_USERNAME"] = os.environ.get("ADMIN_USERNAME") or "admin"
        os.environ["ADMIN_EMAIL"] = os.environ.get("ADMIN_EMAIL") or "admin@hugmood.local"
        if not os.environ.get("ADMIN_PASSWORD"):
            os.environ["ADMIN_PASSWORD"] = dev_secret("admin-password", lambda: secrets.token_urlsafe(12))
        prom = DATA / "prometheus"
        prom.mkdir(exist_ok=True)
        os.environ.setdefault("PROMETHEUS_MULTIPROC_BASE", str(prom))
        os.environ.setdefault("BEAT_SCHEDULE_FILE", str(DATA / "celerybeat-schedule"))
        config = DATA / "supervisord.conf"
        config.write_text(supervisor_config(servers))
        supervisord = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
            cwd=ROOT,
            start_new_session=True,  # a terminal's Ctrl-C reaches us only, and we stop it in order
        )
        if server_url and not wait_until(lambda: ensure_database(server_url) or True):
            raise RuntimeError(f"PostgreSQL did not start; see {DATA / 'pg' / 'server.log'}")
        if server_url:
            print(f"embedded PostgreSQL: {os.environ['DATABASE_URL']}", flush=True)
        if "redis" in servers:
            import redis

            if not wait_until(redis.Redis.from_url(os.environ["REDIS_URL"]).ping):
                raise RuntimeError(f"Redis did not start; see {DATA / 'redis' / 'redis.log'}")
            print(f"embedded Redis: {os.environ['REDIS_URL']}", flush=True)
        subprocess.run([sys.executable, "-m", "shared.migrate", "upgrade"], cwd=ROOT, check=True)
        print("migrations applied", flush=True)
        with rpc() as supervisor:
            supervisor.supervisor.startProcessGroup(GROUP, False)
        port = os.environ.get("GATEWAY_PORT", "4000")
        gateway = f"http://localhost:{port}"
        up = False
        while not stopping and supervisord.poll() is None:
            if not up and (up := wait_until(lambda: healthy(f"{gateway}/api/v1/status"), timeout=1)):
                print(
                    f"\nHugMood is up in {time.monotonic() - started:.1f}s: {gateway}\n"
                    f"the web app: open {gateway}/ in a browser\n"
                    f"GraphQL: {gateway}/graphql (schema: {gateway}/graphql/schema.graphql)\n"
                    f"readiness and metrics: http://localhost:{os.environ.get('GATEWAY_OPS_PORT', '9100')}\n"
                    f"admin login: {os.environ['ADMIN_USERNAME']} / password in {DATA / 'admin-password'}"
                    " (or ADMIN_PASSWORD)\nA process that dies is started again; Ctrl-C stops everything.\n",
                    flush=True,
                )
            time.sleep(0.2)
        return 0 if stopping else (supervisord.returncode or 1)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if supervisord is not None and supervisord.poll() is None:
            # supervisord stops the fleet first, then the servers (reverse priority), each process group whole.
            supervisord.terminate()
            try:
                supervisord.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(supervisord.pid, signal.SIGKILL)
        print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
