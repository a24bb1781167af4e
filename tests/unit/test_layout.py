"""The architecture stays visible: same files per service, no cross-imports, no domain in shared/."""

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from shared.config import SERVICES

ROOT = Path(__file__).resolve().parents[2]
SERVICE_FILES = {"__init__.py", "app.py", "api.py", "schemas.py", "models.py", "service.py", "tasks.py", "errors.py"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_top_level_layout():
    for name in (
        "gateway",
        "services",
        "shared",
        "migrations",
        "tests",
        "docker-compose.yml",
        "k8s",
        "pyproject.toml",
        "README.md",
    ):
        assert (ROOT / name).exists(), name


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_files_and_a_migration_line(service):
    # A module past ~400 lines becomes a package of the same name (service.py -> service/).
    files = {
        p.name if p.suffix == ".py" else f"{p.name}.py"
        for p in (ROOT / "services" / service).iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert files >= SERVICE_FILES
    assert list((ROOT / "migrations" / service / "versions").glob("*.py"))


@pytest.mark.parametrize("service", SERVICES)
def test_services_never_import_each_other(service):
    for path in (ROOT / "services" / service).rglob("*.py"):
        for module in imports_of(path):
            parts = module.split(".")
            if parts[0] == "services" and len(parts) > 1:
                assert parts[1] == service, f"{path} imports {module}"
            assert parts[0] != "gateway", f"{path} imports {module}"


def test_shared_never_imports_gateway_or_services():
    for path in (ROOT / "shared").rglob("*.py"):
        for module in imports_of(path):
            assert module.split(".")[0] not in {"gateway", "services"}, f"{path} imports {module}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def shared_import_graph() -> dict[str, set[str]]:
    """Each module of shared/ and the shared modules it imports, function-local imports included."""
    paths = {module_name(path): path for path in (ROOT / "shared").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                # `from shared.events import registry` names a module if there is one by that name.
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names)
        graph[name] = {target for target in targets if target in paths and target != name}
    return graph


def test_shared_imports_form_layers_without_a_cycle():
    graph = shared_import_graph()
    try:
        layers = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle in shared/: {' -> '.join(reversed(exc.args[1]))}") from None
    # Imported one by one, lowest layer first, in a fresh interpreter: each finds what it needs loaded.
    modules = [name for name in layers if not name.endswith("__main__")]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", script, *modules], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_shared_names_no_domain_noun():
    nouns = ("mood", "hug", "friend", "notification", "streak")
    for path in (ROOT / "shared").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                assert not any(n in node.name.lower() for n in nouns), f"{path}: {node.name}"


def test_test_modules_have_unique_names():
    """The test folders are not packages, so pytest imports each module by its file name: two
    files of one name in different folders stop the whole run at collection."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
