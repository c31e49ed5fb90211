"""Real headless Chromium (Debian's) driven by Playwright, against a real ``jupyter lab``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import ARTIFACTS, LabServer, browser_lab
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sshd import SSHServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# JupyterLab restores its workspace and reattaches terminals after a reload;
# on a loaded two-core machine that can take longer than Playwright's 5 s.
expect.set_options(timeout=30_000)


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """Stand in for pytest-jupyter's loop fixture here.

    Playwright's sync API runs an event loop of its own in this thread;
    pytest-jupyter's fixture would try to close that running loop.
    """
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """No in-process Jupyter server runs in browser tests: nothing to clean."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run dev/test, which installs chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def lab(tmp_path: Path, sshd: SSHServer) -> Iterator[LabServer]:
    server = browser_lab(tmp_path, {"real": sshd})
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-end.png"))
    context.close()
