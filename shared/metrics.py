"""Prometheus metrics, multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set (gunicorn)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

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


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of all gunicorn workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
