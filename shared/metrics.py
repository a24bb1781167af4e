"""Prometheus metrics, multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set (gunicorn)."""

from __future__ import annotations

import logging
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

log = logging.getLogger("hugmood.metrics")

# The methods a request is counted under; any other string (a client may send anything) is "other",
# so no client can add label values, and series, at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


REQUESTS = Counter(
    "hugmood_http_requests_total",
    "HTTP requests served",
    ["process", "method", "route", "status"],
)
LATENCY = Histogram(
    "hugmood_http_request_duration_seconds",
    "HTTP request latency",
    ["process", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
UPSTREAM_CALLS = Counter(
    "hugmood_upstream_calls_total",
    "calls one process made to another through shared.http.ServiceClient (retries not counted)",
    ["process", "upstream"],
)
BREAKER_STATE = Gauge(
    "hugmood_circuit_breaker_open",
    "1 when the circuit to an upstream is open, 0.5 half-open, 0 closed",
    ["process", "upstream"],
    multiprocess_mode="max",
)
OUTBOX_PENDING = Gauge(
    "hugmood_outbox_pending",
    "outbox rows not yet published",
    ["schema"],
    multiprocess_mode="max",
)
OUTBOX_LAG = Gauge(
    "hugmood_outbox_lag_seconds",
    "age of the oldest outbox row not yet published (0 when none is waiting)",
    ["schema"],
    multiprocess_mode="max",
)
TASKS = Counter(
    "hugmood_celery_tasks_total",
    "Celery task outcomes: succeeded, retried, failed; of the succeeded consume tasks, dead_lettered "
    "and skipped (the event names a deleted user) are also counted apart",
    ["task", "outcome"],
)
LONG_POLLS = Gauge(
    "hugmood_long_polls_held",
    "long polls being held open right now",
    ["process"],
    multiprocess_mode="livesum",
)


def collecting_registry() -> CollectorRegistry:
    """This process's registry, or one that merges every process of the group (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of all gunicorn workers in multiprocess mode."""
    return generate_latest(collecting_registry()), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Serve /metrics on `port` from a background thread, for processes without HTTP of their own
    (the Celery worker, the relay). 0 turns it off; a port in use is logged, not fatal."""
    if not port:
        return
    try:
        start_http_server(port, addr=host, registry=collecting_registry())
    except OSError as exc:
        log.warning("metrics not served on %s:%s: %s", host, port, exc)
