"""The fleet as the gateway sees it: `GET /api/v1/status` for anyone, `GET /api/v1/service-registry`
for admins, from a probe of every instance of every service at most once a second."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import requests
from flask import Blueprint, current_app, request

from gateway import routes
from gateway.circuits import worst
from gateway.proxy import Upstream
from gateway.web import GatewayResponse, json_answer
from shared import VERSION
from shared.errors import Forbidden, ProblemError, Unauthorized
from shared.openapi import operation

if TYPE_CHECKING:
    from gateway.app import Gateway

fleet = Blueprint("fleet", __name__)
STATUS_SCHEMA = {
    "type": "object",
    "required": ["status", "services"],
    "properties": {
        "status": {"enum": ["ok", "degraded", "down"]},
        "services": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"enum": ["up", "down"]}, "circuit": {"type": "string"}},
            },
        },
    },
}


class FleetHealth:
    """Every instance's readiness, latency and version, probed at most once a second. A ready
    instance is reported to `on_ready` (the circuit board closes its service's circuit)."""

    def __init__(self, upstreams: dict[str, Upstream], on_ready: Callable[[str], None] = lambda name: None):
        self.upstreams = upstreams
        self.on_ready = on_ready
        self.session = requests.Session()
        self.session.trust_env = False
        self._cache: tuple[float, dict[str, Any]] = (0.0, {})

    def ready(self, url: str) -> bool:
        """Whether the instance at `url` answers its readiness check."""
        try:
            return self.session.get(url + "/readyz", timeout=(0.5, 1.0)).status_code == 200
        except requests.RequestException:
            return False

    def _probe(self, url: str) -> dict[str, Any]:
        started = time.perf_counter()
        up = self.ready(url)
        version = None
        if up:
            try:
                version = self.session.get(url + "/healthz", timeout=(0.5, 1.0)).json().get("version")
            except (requests.RequestException, ValueError):
                version = None
        return {
            "url": url,
            "status": "up" if up else "down",
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "version": version,
        }

    def __call__(self) -> dict[str, list[dict[str, Any]]]:
        """Per service, a probe of each of its instances."""
        cached_at, cached = self._cache
        if time.monotonic() - cached_at < 1.0 and cached:
            return cached
        targets = [(name, inst.url) for name, up in self.upstreams.items() for inst in up.instances]
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            probes = list(pool.map(lambda t: self._probe(t[1]), targets))
        result: dict[str, Any] = {name: [] for name in self.upstreams}
        for (name, _), probe in zip(targets, probes, strict=True):
            result[name].append(probe)
            if probe["status"] == "up":
                self.on_ready(name)
        self._cache = (time.monotonic(), result)
        return result


@fleet.get("/api/v1/status")
@operation(
    "The fleet's health: ok, degraded or down, and each service's status",
    description="Admins (a token with the admin role) also see latency, instances and circuit state.",
    response=STATUS_SCHEMA,
    public=True,
)
def status() -> GatewayResponse:
    gateway: Gateway = current_app  # type: ignore[assignment]
    try:
        claims = gateway.caller_claims(request._get_current_object())  # type: ignore[attr-defined]
    except ProblemError:  # a bad token, or Redis down: the public view still answers
        claims = None
    is_admin = claims is not None and "admin" in claims.get("roles", ())
    health = gateway.fleet()  # first: a ready instance closes its circuit here before it is read
    views, _ = gateway.circuits.views()
    services = {}
    for name, instances in health.items():
        up = any(i["status"] == "up" for i in instances)
        # The circuit as the least healthy gateway worker sees it: one open circuit means some
        # clients are refused, so the fleet is not "ok" even if every instance answers its probe.
        # Everyone is told of a circuit that is not closed; admins see it always.
        circuit = _circuit_of(name, views)
        entry: dict[str, Any] = {"status": "up" if up else "down"}
        if circuit != "closed" or is_admin:
            entry["circuit"] = circuit
        if is_admin:
            live = [i["latency_ms"] for i in instances if i["status"] == "up"]
            entry.update(
                latency_ms=min(live) if live else None,
                instances=[{"url": i["url"], "status": i["status"]} for i in instances],
            )
        services[name] = entry
    ups = sum(1 for s in services.values() if s["status"] == "up")
    closed = all(s.get("circuit", "closed") == "closed" for s in services.values())
    overall = "ok" if ups == len(services) and closed else ("down" if ups == 0 else "degraded")
    return json_answer({"status": overall, "services": services})


@fleet.get("/api/v1/service-registry")
@operation(
    "Every service: instances, routes, health, circuit breaker and version (admins)",
    response={"type": "object", "additionalProperties": True},
    errors=(Forbidden,),
)
def service_registry() -> GatewayResponse:
    gateway: Gateway = current_app  # type: ignore[assignment]
    claims = gateway.caller_claims(request._get_current_object())  # type: ignore[attr-defined]
    if claims is None:
        raise Unauthorized("A bearer access token is required.", code="auth.token_missing")
    if "admin" not in claims.get("roles", ()):
        raise Forbidden("The service registry is for administrators.")
    health = gateway.fleet()
    views, shared = gateway.circuits.views()
    items = []
    for name, upstream in gateway.upstreams.items():
        instances = health[name]
        workers = [
            {"worker": worker, "state": view[name]["state"], "failures": view[name]["failures"]}
            for worker, view in sorted(views.items())
            if name in view
        ]
        items.append(
            {
                "name": name,
                "instances": [
                    {"url": i["url"], "status": i["status"], "latency_ms": i["latency_ms"]} for i in instances
                ],
                "routes": routes.prefixes_of(name),
                "health": "up" if any(i["status"] == "up" for i in instances) else "down",
                "circuit_breaker": {
                    "state": _circuit_of(name, views),
                    "failures": max((w["failures"] for w in workers), default=0),
                    "fail_max": upstream.breaker.fail_max,
                    "reset_timeout_seconds": upstream.breaker.reset_timeout,
                    "workers": workers,
                },
                "version": next((i["version"] for i in instances if i["version"]), None),
            }
        )
    gateway_info = {"version": VERSION, "worker": gateway.circuits.worker, "all_workers_seen": shared}
    return json_answer({"services": items, "gateway": gateway_info})


def _circuit_of(name: str, views: dict[str, dict[str, dict[str, Any]]]) -> str:
    return worst([view[name]["state"] for view in views.values() if name in view])
