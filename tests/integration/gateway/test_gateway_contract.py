"""The published contract as the gateway serves it: the document, the rendered reference with
nothing from another origin, and a page per problem code."""

from __future__ import annotations

import json
import re

import pytest
from werkzeug.test import Client

from gateway import create_app
from gateway.contract import DOCS_ASSETS, DOCUMENT_FILE


@pytest.fixture(scope="module")
def gateway(redis_url):
    # No service runs: the document and the pages are the gateway's own.
    return Client(create_app({"REDIS_URL": redis_url, "AUTH_URL": "http://127.0.0.1:9"}))


def test_the_document_is_served_without_any_service_running(gateway):
    response = gateway.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    assert response.json == json.loads(DOCUMENT_FILE.read_text())
    assert response.json["openapi"] == "3.1.0"
    assert not [path for path in response.json["paths"] if path.startswith("/internal")]
    assert response.headers["X-Request-ID"] and "RateLimit-Remaining" in response.headers


def test_the_reference_page_loads_only_same_origin_assets_and_every_one_is_served(gateway):
    page = gateway.get("/api/docs")
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references and all(ref.startswith("/api/docs/") for ref in references), references
    assert "<script>" not in html  # no inline script: the page's own start-up is a file
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for ref in references:
        asset = gateway.get(ref)
        assert asset.status_code == 200 and len(asset.data) > 100, ref
    script = gateway.get("/api/docs/hugmood-docs.js").get_data(as_text=True)
    assert '"/api/v1/openapi.json"' in script and "http" not in script
    bundle = gateway.get("/api/docs/swagger-ui-bundle.js")
    assert bundle.content_type.startswith(("text/javascript", "application/javascript"))
    assert set(DOCS_ASSETS) >= {ref.rsplit("/", 1)[1] for ref in references}


def test_an_unknown_docs_file_is_a_404_problem(gateway):
    for name in ("nope.js", "..%2Fapp.py", "index.html"):
        response = gateway.get(f"/api/docs/{name}")
        assert response.status_code == 404 and response.content_type == "application/problem+json", name


def test_a_problem_page_says_what_the_code_means_as_json_by_default(gateway):
    response = gateway.get("/api/v1/problems/mood.not_found")
    assert response.status_code == 200 and response.content_type == "application/json"
    body = response.json
    assert body["code"] == "mood.not_found" and body["status"] == 404
    assert body["type"] == "/api/v1/problems/mood.not_found"
    assert body["meaning"] and body["advice"]


def test_a_browser_gets_the_problem_page_as_html(gateway):
    response = gateway.get("/api/v1/problems/rate_limited", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 200 and response.content_type.startswith("text/html")
    assert "<code>rate_limited</code>" in response.get_data(as_text=True)


@pytest.mark.parametrize("code", ["no.such_code", "x" * 300, "%00", "mood.not_found.extra", "<script>"])
def test_an_unknown_problem_code_is_a_404_problem_whose_type_is_its_own_page(gateway, code):
    response = gateway.get(f"/api/v1/problems/{code}", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.content_type == "application/problem+json"
    body = response.json
    assert body["code"] == "problem.unknown" and body["type"] == "/api/v1/problems/problem.unknown"
    assert gateway.get(body["type"]).status_code == 200


def test_every_problem_type_the_gateway_writes_points_to_a_served_page(gateway):
    refused = gateway.get("/api/v1/service-registry")  # no token
    assert refused.status_code == 401
    assert gateway.get(refused.json["type"]).json["code"] == refused.json["code"] == "auth.token_missing"


def test_the_contract_paths_take_only_get(gateway):
    for path in ("/api/v1/openapi.json", "/api/docs", "/api/v1/problems/not_found"):
        response = gateway.post(path, json={})
        assert response.status_code == 405 and response.headers["Allow"] == "GET", path
