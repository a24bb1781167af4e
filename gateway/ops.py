"""The gateway's ops endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from flask import Blueprint, current_app

from gateway.web import GatewayResponse, json_answer
from shared import VERSION
from shared.errors import ServiceUnavailable
from shared.metrics import render

if TYPE_CHECKING:
    from gateway.app import Gateway

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
def healthz() -> GatewayResponse:
    return json_answer({"status": "ok", "service": "gateway", "version": VERSION})


@ops.get("/readyz")
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
def metrics() -> GatewayResponse:
    body, content_type = render()
    return GatewayResponse([body], 200, [("Content-Type", content_type)])
