"""Gunicorn settings shared by every HugMood web process (`gunicorn -c python:shared.serving`)."""

import os
import shutil
import tempfile
import uuid

from gunicorn import util

from shared.errors import PROBLEM_JSON, problem_body

# Above the longest long poll (60 s) so a graceful stop lets held polls answer.
graceful_timeout = 75
timeout = 90
keepalive = 5
accesslog = None
# The workers' heartbeat touches a file on every loop turn: keep it in memory, not on the disk
# (gunicorn's advice for containers; on a disk-backed /tmp it showed in the request tail).
# gunicorn makes its file there with mkstemp (a unique name, mode 0600).
SHARED_MEMORY = "/dev/shm"  # noqa: S108
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY


def multiprocess_dir(name: str) -> str:
    """A fresh Prometheus multiprocess directory for this process group (several groups, and
    several fleets, share a machine: the path carries the group's name and its master's pid)."""
    base = os.environ.get("PROMETHEUS_MULTIPROC_BASE") or os.path.join(
        tempfile.gettempdir(), f"hugmood-metrics-{os.getuid()}"
    )
    path = os.path.join(base, f"{name}-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


def on_starting(server) -> None:
    """Give this process group its own Prometheus multiprocess directory, so /metrics on any
    worker reports the whole group. Set before any worker imports prometheus_client."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir(server.proc_name or "app")


def on_exit(server) -> None:
    shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)


# What gunicorn's own refusals (a request it cannot parse, before any app sees it) say, by status;
# never the offending input, which its log line keeps.
_PARSER_REFUSALS = {
    400: ("bad_request", "The request could not be parsed as HTTP."),
    403: ("forbidden", "The request is forbidden."),
    414: ("uri_too_long", "The request line is too long."),
    417: ("expectation_failed", "The Expect header is not supported."),
    431: ("request_header_fields_too_large", "The request headers are too large."),
    501: ("not_implemented", "The request uses a transfer coding this server does not implement."),
}


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error page as problem+json, like every other HugMood answer (gunicorn's own is HTML)."""
    code, detail = _PARSER_REFUSALS.get(status_int, ("internal_error", "The request failed."))
    body = problem_body(status_int, reason, detail, code, None, uuid.uuid4().hex)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def post_fork(server, worker) -> None:
    """Every worker answers gunicorn's own refusals as problem+json (its workers' handle_error
    writes them through gunicorn.util.write_error). Under gevent workers, make psycopg2
    cooperative so a query never blocks the whole worker."""
    util.write_error = write_problem
    if "gevent" in type(worker).__name__.lower():
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# Several gunicorn masters run side by side on one machine; they must not fight over one control socket.
control_socket_disable = True
