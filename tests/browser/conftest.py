"""The browser tier: the web app in a real Chromium (Debian's `chromium`, driven by Playwright for
Python) against one real fleet per session. Without Chromium the whole tier is skipped with one
reason (README: `apt-get install chromium`)."""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from services.auth.service import SigningKey, generate_private_key_pem
from shared.testing import fresh_database
from tests.e2e.conftest import launch_fleet
from tests.e2e.fleet import Fleet

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

    # The machine may be shared and busy: give assertions the same patience as actions.
    expect.set_options(timeout=10_000)
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

SKIP_REASON = (
    "browser tests skipped: no Chromium found (install Debian's `chromium` package, or set CHROMIUM_PATH)"
    if CHROMIUM is None
    else "browser tests skipped: playwright is not installed (make install)"
)
HERE = Path(__file__).parent
PASSWORD = "a soft warm blanket"
ROOT = HERE.parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM is not None and sync_playwright is not None:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def web_fleet(servers, tmp_path_factory) -> Iterator[Fleet]:
    database_url = fresh_database(servers.database_url, servers.database("hugmood_browser"))
    fleet = launch_fleet(
        database_url,
        servers.redis(13),
        SigningKey.from_pem(generate_private_key_pem()),
        tmp_path_factory.mktemp("browser_fleet"),
        # Every browser connects from 127.0.0.1: one client as far as the limits are concerned.
        GATEWAY_RATE_LIMIT_PER_IP="100000",
        GATEWAY_AUTH_RATE_LIMIT="1000",
        GATEWAY_BREAKER_FAIL_MAX="2",
        GATEWAY_BREAKER_RESET_SECONDS="2",
    )
    try:
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: a test artifact; with UPDATE_SCREENSHOTS=1 also docs/screenshots/."""
    return tmp_path_factory.mktemp("screenshots")


def screenshot(page: Page, shots: Path, name: str, docs: bool = False) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path


class Watched:
    """A page with what would betray injected script: dialogs and CSP violations in the console."""

    def __init__(self, page: Page):
        self.page = page
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()

    def csp_violations(self) -> list[str]:
        return [m for m in self.console_errors if "Content Security Policy" in m]


@pytest.fixture
def new_page(browser, web_fleet) -> Iterator[Any]:
    contexts: list[BrowserContext] = []

    def make(width: int = 1024, height: int = 800) -> Watched:
        context = browser.new_context(base_url=web_fleet.gateway, viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return Watched(context.new_page())

    yield make
    for context in contexts:
        context.close()


_numbers = itertools.count(1)


def new_name(prefix: str = "web") -> str:
    return f"{prefix}_{next(_numbers)}_{uuid.uuid4().hex[:6]}"


def register(gateway: str, **extra: str) -> dict[str, Any]:
    """An account made through the API (for the parts of a test that are not about signing up)."""
    username = new_name()
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD, **extra}
    response = requests.post(f"{gateway}/api/v1/auth/register", json=body, timeout=10)
    assert response.status_code == 201, response.text
    out = response.json()
    out["password"] = PASSWORD
    out["headers"] = {"Authorization": f"Bearer {out['access_token']}"}
    return out


def sign_in(watched: Watched, account: dict[str, Any]) -> None:
    page = watched.page
    page.goto("/signin")
    page.get_by_label("Username or email").fill(account["user"]["username"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/today")
