"""The gateway's ops endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from flask import Blueprint, current_app

from gateway.web import GatewayResponse, json_answer
from shared import VERSION
from shared.errors import ServiceUnavailable
from shared.metrics import render
from shared.openapi import operation

if TYPE_CHECKING:
    from gateway.app import Gateway

ops = Blueprint("ops", __name__)
# Answered on the ops port (GATEWAY_OPS_PORT) only: readiness and metrics say how the fleet is
# doing, which is the operator's to know, and a scrape is not a client's to cost. gunicorn sets
# SERVER_PORT from the listening socket, never from the request's Host header.
OPS_ONLY = frozenset({"/readyz", "/metrics"})


@ops.get("/healthz")
@operation("Liveness: the gateway answers (never rate-limited)", response={"type": "object"}, public=True)
def healthz() -> GatewayResponse:
    return json_answer({"status": "ok", "service": "gateway", "version": VERSION})


@ops.get("/readyz")
@operation(
    "Readiness: Redis reachable (or briefly not, within READINESS_GRACE_SECONDS)",
    response={"type": "object"},
    errors=((503, "not_ready"),),
    public=True,
)
def readyz() -> GatewayResponse:
    gateway: Gateway = current_app  # type: ignore[assignment]
    try:
        gateway.redis.ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    ready, body = gateway.readiness.assess({"redis": reachable})
    if not ready:
        raise ServiceUnavailable("Redis is unreachable.", code="not_ready", retry_after=2)
    return json_answer(body)


@ops.get("/metrics")
@operation(
    "Prometheus metrics of the gateway's workers", response={"type": "string"}, content_type="text/plain", public=True
)
def metrics() -> GatewayResponse:
    body, content_type = render()
    return GatewayResponse([body], 200, [("Content-Type", content_type)])
