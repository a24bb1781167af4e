"""`make run` supervises: a killed process comes back within 10 s while the others keep serving,
the embedded PostgreSQL and Redis included, and Ctrl-C still stops everything.

One fleet, started the way `make run` starts it (scripts/run.py, embedded servers, its own data
directory and free ports); one process of each kind is killed with SIGKILL in turn. Only processes
of this fleet are killed: their pids come from its own supervisord.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scripts.embedded import free_port
from scripts.run import rpc
from tests.e2e.fleet import ROOT, python_env

pytestmark = pytest.mark.e2e

WEB = ("gateway", "auth", "user", "mood", "hug", "notification", "social", "graphql")
BACK_WITHIN = 10.0


class RunFleet:
    def __init__(self, data_dir: Path, env: dict[str, str], proc: subprocess.Popen[bytes]):
        self.data_dir, self.env, self.proc = data_dir, env, proc
        self.gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"

    def info(self, name: str) -> dict:
        group = "fleet:" if name not in ("postgres", "redis") else ""
        with rpc(self.data_dir) as supervisor:
            return supervisor.supervisor.getProcessInfo(group + name)

    def pids(self) -> dict[str, int]:
        with rpc(self.data_dir) as supervisor:
            return {p["name"]: p["pid"] for p in supervisor.supervisor.getAllProcessInfo() if p["pid"]}

    def healthz(self, name: str) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.env[name.upper() + '_PORT']}/healthz", timeout=2).ok
        except requests.RequestException:
            return False


@pytest.fixture(scope="module")
def run_fleet() -> Iterator[RunFleet]:
    # Not under pytest's own temporary root: a pytest session started meanwhile makes that 0700
    # again, and PostgreSQL, run as its own user when we are root, must reach its data to restart.
    data_dir = Path(tempfile.mkdtemp(prefix="hugmood-makerun-"))
    env = python_env()
    for name in ("DATABASE_URL", "REDIS_URL", "AUTH_JWT_PRIVATE_KEY", "AUTH_JWT_PRIVATE_KEY_FILE"):
        env.pop(name, None)
    env.update(
        HUGMOOD_DATA_DIR=str(data_dir),
        WORKER_METRICS_PORT=str(free_port()),
        RELAY_METRICS_PORT=str(free_port()),
        GATEWAY_OPS_PORT=str(free_port()),
        GATEWAY_WORKERS="1",
        AUTH_WORKERS="1",
        AUTH_THREADS="4",
        WORKER_CONCURRENCY="1",
        NOTIFICATION_PUSH_PROVIDER="logging",
        NOTIFICATION_EMAIL_PROVIDER="logging",
        LOG_LEVEL="WARNING",
    )
    for name in WEB:
        port = str(free_port())
        env[f"{name.upper()}_PORT"] = port
        if name != "gateway":
            env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    log = (data_dir / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run.py")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    fleet = RunFleet(data_dir, env, proc)
    try:
        deadline = time.monotonic() + 300
        while b"HugMood is up" not in (data_dir / "run.log").read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, _tail(data_dir / "supervisord.log")
            time.sleep(0.5)
        yield fleet
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=150)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _session(fleet: RunFleet) -> dict[str, str]:
    name = f"s{uuid.uuid4().hex[:10]}"
    body = {"username": name, "email": f"{name}@example.com", "password": "a calm blue ocean"}
    response = requests.post(f"{fleet.gateway}/api/v1/auth/register", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _serves(fleet: RunFleet, headers: dict[str, str]) -> bool:
    """A read through the gateway that needs the auth token check, Redis, the user service and PostgreSQL."""
    try:
        return requests.get(f"{fleet.gateway}/api/v1/users/me", headers=headers, timeout=3).status_code == 200
    except requests.RequestException:
        return False


def _back(fleet: RunFleet, name: str, old_pid: int, ready) -> float:
    """Seconds until `name` runs again under a new pid and `ready()` holds; fails after BACK_WITHIN."""
    started = time.monotonic()
    while time.monotonic() - started < BACK_WITHIN:
        info = fleet.info(name)
        if info["statename"] == "RUNNING" and info["pid"] not in (0, old_pid) and ready():
            return time.monotonic() - started
        time.sleep(0.1)
    state, log = fleet.info(name)["statename"], _tail(fleet.data_dir / "supervisord.log")
    raise AssertionError(f"{name} not back within {BACK_WITHIN:g} s ({state}):\n{log}")


def test_each_kind_of_process_killed_comes_back_while_the_rest_serve(run_fleet):
    fleet = run_fleet
    headers = _session(fleet)
    assert _serves(fleet, headers)
    # (process, what shows it is back, what else must keep answering while it is down)
    cases = [
        ("social", lambda: fleet.healthz("social"), ["gateway", "user", "mood", "hug", "auth"]),
        ("gateway", lambda: _serves(fleet, headers), ["auth", "user", "social"]),
        ("worker", lambda: True, ["gateway", "user", "mood"]),
        ("relay", lambda: True, ["gateway", "user", "mood"]),
        ("redis", lambda: _serves(fleet, headers), ["gateway", "user", "auth"]),
        ("postgres", lambda: _serves(fleet, headers), ["gateway", "user", "auth"]),
    ]
    figures = {}
    for name, ready, others in cases:
        before = fleet.pids()
        pid = before[name]
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        for other in others:
            assert fleet.healthz(other), f"{other} stopped answering when {name} was killed"
        figures[name] = _back(fleet, name, pid, ready)
        assert _serves(fleet, headers), f"the fleet does not serve after {name} came back"
        after = fleet.pids()
        unchanged = {n for n in before if n != name and before[n] == after.get(n)}
        assert unchanged == set(before) - {name}, f"killing {name} restarted others: {set(before) - unchanged}"
    print("\nback after SIGKILL (s): " + ", ".join(f"{n} {t:.1f}" for n, t in figures.items()))

    pids = fleet.pids()
    os.kill(fleet.proc.pid, signal.SIGINT)  # Ctrl-C
    assert fleet.proc.wait(timeout=150) == 0
    alive = {name: pid for name, pid in pids.items() if _alive(pid)}
    assert not alive, f"still running after Ctrl-C: {alive}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"
