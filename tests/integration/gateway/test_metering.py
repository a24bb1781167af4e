"""Every path the gateway answers is rate-limited (but liveness), and no client can add metric
label values: unknown methods count as "other", unknown paths as one unmatched route."""

from __future__ import annotations

import re
import uuid

import pytest
from flask.testing import FlaskClient

from gateway import create_app
from shared.config import SERVICES
from tests.integration.gateway.live_gateway import NOWHERE


def client_from(gateway, address: str) -> FlaskClient:
    client = gateway.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.fixture
def gateway(redis_url, redis_client, signing_key):
    config = {f"{name.upper()}_URL": NOWHERE for name in SERVICES}
    app = create_app({**config, "REDIS_URL": redis_url, "GATEWAY_RATE_LIMIT_PER_IP": "5"})
    app.keys.url = None
    app.keys.load({"keys": [signing_key.public_jwk]})
    yield app
    app.circuits.stop()


@pytest.mark.parametrize("path", ["/no/such/path", "/api/v1/status", "/api/v1/service-registry", "/metrics"])
def test_paths_the_proxy_does_not_serve_are_rate_limited_too(gateway, path):
    client = client_from(gateway, f"198.51.100.{uuid.uuid4().int % 250 + 1}")
    answers = [client.get(path) for _ in range(6)]
    assert all(a.status_code != 429 for a in answers[:5]), [a.status_code for a in answers]
    assert answers[5].status_code == 429 and answers[5].headers["Retry-After"]
    assert answers[0].headers["RateLimit-Limit"] == "5"


def test_readiness_and_metrics_answer_on_the_ops_port_only(gateway):
    client = client_from(gateway, "198.51.100.250")
    ops = f"http://localhost:{gateway.ops_port}"
    for path in ("/metrics", "/readyz"):
        assert client.get(path).status_code == 404
        assert client.get(path, base_url=ops).status_code == 200
    assert client.get("/healthz").status_code == client.get("/healthz", base_url=ops).status_code == 200
    elsewhere = client.get("/api/v1/status", base_url=ops)
    assert elsewhere.status_code == 404 and elsewhere.content_type == "application/problem+json"
    assert "RateLimit-Limit" not in elsewhere.headers  # the ops port is the operator's: never metered


def test_liveness_is_never_rate_limited(gateway):
    client = client_from(gateway, "198.51.100.251")
    assert [client.get("/healthz").status_code for _ in range(8)] == [200] * 8


def test_hundreds_of_odd_methods_and_paths_add_no_metric_series(gateway):
    def series() -> set[str]:
        ops = f"http://localhost:{gateway.ops_port}"
        text = client_from(gateway, "198.51.100.252").get("/metrics", base_url=ops).get_data(as_text=True)
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("hugmood_http_requests_total{")}

    gateway.settings["GATEWAY_RATE_LIMIT_PER_IP"] = 10_000
    client = client_from(gateway, "198.51.100.253")
    client.open("/x", method="WARMUP")
    before = series()
    for n in range(150):
        client.open(f"/junk/{n}", method=f"M{n}")
        client.open(f"/api/v1/zz{n}", method="GET")
    grown = series() - before
    assert len(grown) <= 3, grown  # at most a new status or two of the one unmatched route
    methods = {m for line in series() for m in re.findall(r'method="([^"]*)"', line)}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
