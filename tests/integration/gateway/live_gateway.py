"""The gateway as the Procfile runs it (gunicorn, gevent workers), for tests where the real server matters."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from shared.config import SERVICES

ROOT = Path(__file__).resolve().parents[3]
NOWHERE = "http://127.0.0.1:9"  # a closed port: no service of anyone else's is ever reached


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn_gateway(
    env: dict[str, str], run_dir: Path, *, workers: int = 1, worker_class: str = "gevent"
) -> Iterator[str]:
    """Start a gateway under gunicorn with `env` over a base of closed upstreams; yield its URL.
    `env` must name REDIS_URL and AUTH_URL."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))}
    base.update({f"{name.upper()}_URL": NOWHERE for name in SERVICES})
    base.update(LOG_LEVEL="WARNING", PROMETHEUS_MULTIPROC_BASE=str(run_dir))
    base.update(env)
    log = run_dir / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", "python:shared.serving", "-n", "gateway-test"),
                *("-k", worker_class, "-w", str(workers), "-b", f"127.0.0.1:{port}", "gateway:wsgi_app()"),
            ],
            cwd=ROOT,
            env=base,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
