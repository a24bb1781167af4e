"""The published OpenAPI document is generated from the code, current, valid, and the one source of
truth: every route is in it, everything in it is routed, the README's table agrees with it, and
every problem code anything raises has a page."""

from __future__ import annotations

import ast
import importlib
import itertools
import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask_restful import Resource
from openapi_spec_validator import validate
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map

from gateway import contract, routes
from gateway.app import OWN_BLUEPRINTS
from scripts import openapi as generator
from shared.api import Api
from shared.config import SERVICES
from shared.openapi import UndocumentedRoute, openapi_path, operation, resources_document

ROOT = Path(__file__).resolve().parents[2]
OPS_PATHS = {"/healthz", "/readyz", "/metrics", "/openapi.json"}


@pytest.fixture(scope="module")
def published() -> dict:
    return json.loads(contract.DOCUMENT_FILE.read_text())


@pytest.fixture(scope="module")
def service_maps() -> dict[str, Map]:
    """Each service's routing, as its create_app mounts its resources."""
    maps = {}
    for name in SERVICES:
        app = Flask(name, static_folder=None)
        importlib.import_module(f"services.{name}.api").register_resources(Api(app))
        maps[name] = app.url_map
    return maps


@pytest.fixture(scope="module")
def gateway_map() -> Map:
    app = Flask("gateway", static_folder=None)
    for blueprint in OWN_BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app.url_map


def operations(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_the_published_document_is_what_the_code_generates(published):
    assert generator.render(generator.build()) == contract.DOCUMENT_FILE.read_text(), (
        "gateway/openapi.json is stale: run `make openapi`"
    )


def test_the_published_document_is_valid_openapi_3_1(published):
    validate(published)
    assert published["openapi"] == "3.1.0"
    assert published["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from register, login, refresh or the token endpoint.",
    }


def test_every_service_document_is_valid_and_covers_exactly_its_routes(service_maps):
    for name in SERVICES:
        api = importlib.import_module(f"services.{name}.api")
        document = resources_document(name, "1", api.register_resources, api.PUBLIC_ENDPOINTS)
        validate(document)
        routed = {
            (method, openapi_path(rule.rule))
            for rule in service_maps[name].iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}
        }
        assert operations(document) == routed, name


def test_a_route_without_an_operation_cannot_be_documented():
    class Undocumented(Resource):
        @operation("Read")
        def get(self):
            return {}

        def delete(self):
            return {}

    with pytest.raises(UndocumentedRoute, match="DELETE /x"):
        resources_document("x", "1", lambda api: api.add_resource(Undocumented, "/x", endpoint="x"), ())


def _routed(url_map: Map, method: str, path: str) -> bool:
    sample = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)
    try:
        url_map.bind("localhost").match(sample, method=method)
    except (NotFound, MethodNotAllowed):
        return False
    return True


def test_everything_documented_is_routed_by_the_gateway_or_the_service_it_forwards_to(
    published, service_maps, gateway_map
):
    for method, path in operations(published):
        assert not path.startswith("/internal/"), path
        if _routed(gateway_map, method, path):
            continue
        route = routes.match(re.sub(r"\{[^}]+\}", "x", path))
        assert route is not None, f"{method} {path}: the gateway forwards it nowhere"
        assert _routed(service_maps[route.service], method, path), f"{method} {path}: {route.service} lacks it"


def test_every_public_route_of_every_service_and_of_the_gateway_is_documented(published, service_maps, gateway_map):
    documented = operations(published)
    for rule in gateway_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, openapi_path(rule.rule)) in documented, rule.rule
    for name, url_map in service_maps.items():
        for rule in url_map.iter_rules():
            path = openapi_path(rule.rule)
            if path.startswith("/internal/") or path in OPS_PATHS:
                continue
            assert contract.owned_by(name, path), f"{path}: served by {name} but the gateway does not forward it"
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, path) in documented, f"{method} {path}"


def test_an_operation_needs_no_token_exactly_where_the_gateway_lets_it_through(published, gateway_map):
    for path, item in published["paths"].items():
        for method, op in item.items():
            public = op["security"] == []
            if _routed(gateway_map, method.upper(), path):
                continue  # the gateway's own endpoints check tokens themselves
            assert public == (routes.access_key(method.upper(), path) in routes.PUBLIC), f"{method} {path}"


def test_the_document_carries_the_edge_headers_and_conventions(published):
    components = published["components"]
    assert {"X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "ETag"} <= set(
        components["headers"]
    )
    for path, item in published["paths"].items():
        for method, op in item.items():
            refs = {p.get("$ref") for p in op["parameters"]}
            assert "#/components/parameters/RequestId" in refs
            assert (method == "post") == ("#/components/parameters/IdempotencyKey" in refs), f"{method} {path}"
            for status, answer in op["responses"].items():
                answer = components["responses"][answer["$ref"].rsplit("/", 1)[1]] if "$ref" in answer else answer
                if status in ("414", "431"):  # refused by the HTTP server before the gateway reads it
                    assert "headers" not in answer, f"{method} {path} {status}"
                    continue
                assert "X-Request-ID" in answer["headers"]
                if status in ("429", "503"):
                    assert "Retry-After" in answer["headers"], f"{method} {path} {status}"
                if path != "/healthz":
                    assert "RateLimit-Remaining" in answer["headers"], f"{method} {path} {status}"
    mood = published["paths"]["/api/v1/moods/{mood_id}"]
    assert "304" in mood["get"]["responses"] and "ETag" in mood["get"]["responses"]["200"]["headers"]
    assert "412" in mood["put"]["responses"] and "412" in mood["delete"]["responses"]
    listing = published["paths"]["/api/v1/moods/user/{user_id}"]["get"]
    assert {p["name"] for p in listing["parameters"] if "name" in p} >= {"user_id", "limit", "cursor"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["items", "next_cursor"]


def test_every_operation_lists_its_errors_with_problem_codes(published):
    listed = {(method, path, status) for method, path, status, _ in contract.documented_errors(published)}
    for path, item in published["paths"].items():
        for method, op in item.items():
            if op["security"]:
                assert (method, path, 401) in listed, f"{method} {path}"
            if "requestBody" in op:
                assert (method, path, 422) in listed or path == "/api/v1/auth/token", f"{method} {path}"
    assert ("get", "/api/v1/moods/{mood_id}", 404) in listed
    assert ("post", "/api/v1/hugs", 403) in listed


# ---- the README's table ----------------------------------------------------------------------------


def _readme_operations() -> set[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| method | path | who | status |") :].split("\n\n", 1)[0]
    found = set()
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        methods = [m.strip() for m in cells[0].split(",")]
        paths = [p.strip().split("?", 1)[0] for p in cells[1].split(",")]
        pairs = (
            zip(methods, paths, strict=True) if len(methods) == len(paths) > 1 else itertools.product(methods, paths)
        )
        found |= {(m, _shape(p)) for m, p in pairs}
    return found


def _shape(path: str) -> str:
    """A path with its variables (and `me`) blanked, so `{id}` and `{user_id}` compare equal."""
    return "/".join("{}" if s.startswith("{") or s == "me" else s for s in path.split("/"))


def test_the_readmes_endpoint_table_lists_exactly_the_documented_operations(published):
    documented = {(m, _shape(p)) for m, p in operations(published)}
    readme = _readme_operations()
    assert documented - readme == set(), "documented but missing from the README"
    assert readme - documented == set(), "in the README but not documented"


# ---- problem codes ---------------------------------------------------------------------------------


def _raised_codes() -> set[str]:
    """Every problem code the code base names: class attributes `code = "..."` and `code="..."`."""
    codes = set()
    for folder in ("gateway", "services", "shared"):
        for file in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant):
                    codes.add(node.value.value)
                elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name | ast.Tuple):
                    target = node.targets[0]
                    names = [target.id] if isinstance(target, ast.Name) else [getattr(e, "id", "") for e in target.elts]
                    values = [node.value] if isinstance(target, ast.Name) else getattr(node.value, "elts", [])
                    for name, value in zip(names, values, strict=False):
                        if name == "code" and isinstance(value, ast.Constant) and isinstance(value.value, str):
                            codes.add(value.value)
    return codes


def test_every_problem_code_raised_anywhere_has_a_page(published):
    pages = published["x-problems"]
    missing = _raised_codes() - set(pages)
    assert not missing, f"codes without a page: {sorted(missing)}"
    assert {"mood.not_found", "auth.token_expired", "rate_limited", "hug.flood"} <= set(pages)


def test_every_documented_code_has_a_page_of_the_same_status(published):
    pages = published["x-problems"]
    for method, path, status, code in contract.documented_errors(published):
        assert code in pages, f"{method} {path}: {code}"
        assert pages[code]["status"] == status, (
            f"{method} {path}: {code} is {pages[code]['status']}, listed as {status}"
        )


def test_every_page_says_what_the_code_means_and_what_to_do(published):
    for code, entry in published["x-problems"].items():
        assert entry["meaning"] and entry["advice"], code
        assert entry["type"] == f"/api/v1/problems/{code}"
        assert 400 <= entry["status"] < 600
