"""The published contract on the real fleet: the document, the reference page and the problem
pages, through the gateway like a client."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from openapi_spec_validator import validate

from gateway.contract import DOCUMENT_FILE
from shared.config import SERVICES

pytestmark = pytest.mark.e2e


def test_the_gateway_publishes_the_valid_3_1_document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document == json.loads(DOCUMENT_FILE.read_text())


def test_each_service_serves_its_own_document(fleet):
    for name in SERVICES:
        document = requests.get(fleet.url(name) + "/openapi.json", timeout=10).json()
        validate(document)
        assert document["info"]["title"] == f"HugMood {name} service"


def test_the_reference_page_and_its_files_come_from_the_gateway(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    for name in ("swagger-ui.css", "swagger-ui-bundle.js", "hugmood-docs.js"):
        assert client.get(f"/api/docs/{name}").status_code == 200, name


def test_a_services_problem_type_leads_to_its_page(client, new_user):
    new_user()
    problem = client.get(f"/api/v1/moods/{uuid.uuid4()}").json()
    assert problem["code"] == "mood.not_found"
    page = client.get(problem["type"])
    assert page.status_code == 200 and page.json()["code"] == "mood.not_found" and page.json()["advice"]


def test_an_unknown_problem_code_is_a_404_problem(client):
    response = client.get("/api/v1/problems/no.such.code")
    assert response.status_code == 404 and response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "problem.unknown"
