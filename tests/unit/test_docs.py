"""Every setting a process reads is documented in the README and .env.example."""

import importlib
import re
from pathlib import Path

from gateway.app import SETTINGS as GATEWAY
from graphql_gateway.app import SETTINGS as GRAPHQL
from shared.config import COMMON_SETTINGS, DATABASE_SETTINGS, SERVICES

SERVICE_SETTINGS = [s for name in SERVICES for s in importlib.import_module(f"services.{name}.app").SETTINGS]

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_readme_and_env_example():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for setting in [*COMMON_SETTINGS, *DATABASE_SETTINGS, *SERVICE_SETTINGS, *GATEWAY, *GRAPHQL]:
        assert f"`{setting.name}`" in readme or re.search(rf"`{setting.name}`", readme), setting.name
        assert re.search(rf"^#?\s*{setting.name}=", example, re.M), setting.name


def test_every_procfile_variable_is_documented():
    readme = (ROOT / "README.md").read_text()
    for name in set(re.findall(r"\$\{([A-Z_]+):-", (ROOT / "Procfile").read_text())):
        generic = re.sub(r"^(USER|MOOD|HUG|NOTIFICATION|SOCIAL)_", "<SERVICE>_", name)
        assert name in readme or generic in readme, name
