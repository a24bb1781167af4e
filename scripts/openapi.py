"""`make openapi`: write gateway/openapi.json, the document the gateway publishes.

It is generated from the services' resources (each service's document, built from its resources
without starting it) and the gateway's own endpoints; tests/unit/test_openapi.py fails while the
checked-in file differs from what this would write. `--check` exits 1 instead of writing.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from flask import Flask

from gateway import contract, webapp
from gateway.app import OWN_BLUEPRINTS
from shared import VERSION, problems
from shared.config import SERVICES
from shared.openapi import document, resources_document


def service_documents() -> dict[str, dict[str, Any]]:
    """Each service's own document, from its resources."""
    documents = {}
    for name in SERVICES:
        api = importlib.import_module(f"services.{name}.api")
        documents[name] = resources_document(name, VERSION, api.register_resources, api.PUBLIC_ENDPOINTS)
    return documents


def gateway_own_document() -> dict[str, Any]:
    """The gateway's own endpoints, from its blueprints."""
    app = Flask("openapi.gateway", static_folder=None)
    for blueprint in OWN_BLUEPRINTS:
        app.register_blueprint(blueprint)
    return document(
        app, title="HugMood gateway", version=VERSION, public=lambda _: False, service=False, name_prefix="gateway."
    )


def problem_catalogue() -> dict[str, problems.ProblemPage]:
    """Every problem code's page: shared's, the gateway's and each service's."""
    modules = [importlib.import_module("shared.errors"), problems, contract, webapp]
    modules += [importlib.import_module(f"services.{name}.errors") for name in SERVICES]
    return problems.catalogue(modules)


def build() -> dict[str, Any]:
    return contract.gateway_document(VERSION, gateway_own_document(), service_documents(), problem_catalogue())


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        current = contract.DOCUMENT_FILE.read_text() if contract.DOCUMENT_FILE.exists() else ""
        if current != text:
            print(f"{contract.DOCUMENT_FILE} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    contract.DOCUMENT_FILE.write_text(text)
    print(f"wrote {contract.DOCUMENT_FILE} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
