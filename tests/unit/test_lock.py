"""Reproducible installs: the lock files pin, with hashes, every package pyproject.toml asks for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*\\?$", re.M)


def pins(lock: str) -> dict[str, str]:
    """name -> pinned version of a pip-compile lock file."""
    return {canonicalize_name(name): version for name, version in PIN.findall((ROOT / lock).read_text())}


def requirements(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    wanted = [*project["dependencies"]]
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(text) for text in wanted]


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("requirements.lock", ()), ("requirements-dev.lock", ("test", "embedded", "dev"))],
)
def test_the_lock_pins_every_requirement_within_its_range(lock, extras):
    pinned = pins(lock)
    for requirement in requirements(*extras):
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, outside {requirement.specifier}: run `make lock`"
        )


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_carries_a_hash_and_no_machine_specific_index(lock):
    text = (ROOT / lock).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]
    assert not re.search(r"^--(extra-)?index-url|^--find-links|file://", text, re.M)


def test_the_runtime_lock_agrees_with_the_dev_lock():
    dev = pins("requirements-dev.lock")
    for name, version in pins("requirements.lock").items():
        assert dev.get(name) == version, f"{name}: {version} at run time, {dev.get(name)} in development"


def test_install_paths_use_the_lock_files():
    assert "--require-hashes -r requirements.lock" in (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r $(LOCK)" in (ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK := requirements-dev\.lock$", (ROOT / "Makefile").read_text(), re.M)


def test_maintained_lines_of_passlib_and_pybreaker():
    by_name = {canonicalize_name(r.name): r.specifier for r in requirements()}
    assert not by_name["passlib"].contains("1.7.4")  # the abandoned line
    assert not by_name["pybreaker"].contains("2.0")  # shared.http.Breaker uses its private members
