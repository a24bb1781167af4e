"""Gunicorn settings shared by every HugMood web process (`gunicorn -c python:shared.serving`)."""

import os
import shutil

# Above the longest long poll (60 s) so a graceful stop lets held polls answer.
graceful_timeout = 75
timeout = 90
keepalive = 5
accesslog = None


def on_starting(server) -> None:
    """Give this process group its own Prometheus multiprocess directory."""
    base = os.environ.get("PROMETHEUS_MULTIPROC_BASE")
    if base:
        path = os.path.join(base, server.proc_name or "app")
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def post_fork(server, worker) -> None:
    """Under gevent workers, make psycopg2 cooperative so a query never blocks the whole worker."""
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
