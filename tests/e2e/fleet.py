"""The real fleet as processes, started from the Procfile, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = (
    "gateway",
    "auth",
    "user",
    "mood",
    "hug",
    "notification",
    "social",
    "graphql",
    "worker",
    "relay",
    "beat",
)
WEB_PROCESSES = PROCESSES[:8]  # those that answer /readyz


def procfile() -> dict[str, str]:
    """name → command, as `make run` starts them."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "condition", every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy, and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return result


class Fleet:
    """Starts, stops and restarts Procfile processes, each in its own process group."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.commands = procfile()
        self.envs: dict[str, dict[str, str]] = {}
        self.extra: list[str] = []
        self.procs: dict[str, subprocess.Popen] = {}

    def add_worker(self, name: str, services: str, metrics_port: int = 0) -> None:
        """One more Celery worker, for `services` only (WORKER_SERVICES); started with the rest."""
        self.commands[name] = self.commands["worker"].replace("worker@%h", f"{name}@%h")
        self.envs[name] = {**self.env, "WORKER_SERVICES": services, "WORKER_METRICS_PORT": str(metrics_port)}
        self.extra.append(name)

    @property
    def gateway_ops(self) -> str:
        """The gateway's ops port: /readyz and /metrics."""
        return f"http://127.0.0.1:{self.env['GATEWAY_OPS_PORT']}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.env[name.upper() + '_PORT']}"

    @property
    def gateway(self) -> str:
        return self.url("gateway")

    def start(self, *names: str) -> None:
        for name in names or (*PROCESSES, *self.extra):
            with open(self.log_dir / f"{name}.log", "ab") as log:
                self.procs[name] = subprocess.Popen(
                    ["/bin/sh", "-c", "exec " + self.commands[name]],
                    cwd=ROOT,
                    env=self.envs.get(name, self.env),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name, timeout=10)

    def wait_healthy(self, names: tuple[str, ...] = WEB_PROCESSES, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                proc = self.procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
                try:
                    base = self.gateway_ops if name == "gateway" else self.url(name)
                    if requests.get(base + "/readyz", timeout=1).status_code == 200:
                        pending.remove(name)
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"not healthy after {timeout}s: {pending}")

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class SourceAddressAdapter(HTTPAdapter):
    """Send from a chosen loopback address, so tests act as distinct clients to the rate limiter."""

    def __init__(self, source_ip: str, **kwargs: Any):
        self.source_ip = source_ip
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


class Client(requests.Session):
    """A client of the public API, from its own loopback address."""

    def __init__(self, base_url: str, source_ip: str = "127.0.0.1"):
        super().__init__()
        self.trust_env = False
        self.base_url = base_url
        self.mount("http://", SourceAddressAdapter(source_ip))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return super().request(method, self.base_url + url, *args, **kwargs)

    def bearer(self, token: str) -> None:
        self.headers["Authorization"] = f"Bearer {token}"


def python_env() -> dict[str, str]:
    """The environment the fleet's commands need: this interpreter's bin first on PATH."""
    # Without HUGMOOD_ENV: whoever starts a fleet says which kind (scripts/run.py: development).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST")) and k != "HUGMOOD_ENV"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env
