"""`make run`: the whole fleet on one machine, with embedded PostgreSQL and Redis by default.

Starts embedded servers unless DATABASE_URL / REDIS_URL are set, makes a development signing key,
applies migrations, then runs every Procfile process under honcho and prints the gateway URL.
Ctrl-C or SIGTERM stops the processes and the embedded servers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HUGMOOD_DATA_DIR", ROOT / ".data"))


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


def wait_healthy(url: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
            if response.status == 200:
                return True
        time.sleep(0.25)
    return False


def main() -> int:
    started = time.monotonic()
    sys.path.insert(0, str(ROOT))
    from scripts.embedded import start_postgres, start_redis
    from services.auth.service import generate_private_key_pem

    load_env_file(ROOT / ".env")
    # The Procfile's gunicorn, celery and python are the ones installed beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    DATA.mkdir(parents=True, exist_ok=True)
    servers = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    honcho = None
    try:
        if not os.environ.get("DATABASE_URL"):
            servers.append(start_postgres(DATA))
            os.environ["DATABASE_URL"] = servers[-1].url
            print(f"embedded PostgreSQL: {servers[-1].url}", flush=True)
        if not os.environ.get("REDIS_URL"):
            servers.append(start_redis(DATA))
            os.environ["REDIS_URL"] = servers[-1].url
            print(f"embedded Redis: {servers[-1].url}", flush=True)
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
        subprocess.run([sys.executable, "-m", "shared.migrate", "upgrade"], cwd=ROOT, check=True)
        print("migrations applied", flush=True)
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile")],
            cwd=ROOT,
            start_new_session=True,
        )
        port = os.environ.get("GATEWAY_PORT", "4000")
        gateway = f"http://localhost:{port}"
        if wait_healthy(f"{gateway}/api/v1/status"):
            print(
                f"\nHugMood is up in {time.monotonic() - started:.1f}s: {gateway}\n"
                f"admin login: {os.environ['ADMIN_USERNAME']} / password in {DATA / 'admin-password'}"
                " (or ADMIN_PASSWORD)\nCtrl-C stops everything.\n",
                flush=True,
            )
        while not stopping and honcho.poll() is None:
            time.sleep(0.2)
        return 0 if stopping else (honcho.returncode or 1)
    finally:
        if honcho is not None and honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGTERM)
            try:
                honcho.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
        for server in reversed(servers):
            server.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
