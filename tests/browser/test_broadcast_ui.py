"""Broadcast typing into two instance terminals, on two real sshd servers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import ARTIFACTS, LabServer, browser_lab
from playwright.sync_api import Page, expect
from sshd import LocalUser, SSHServer

TERMINAL_TEXT = ".xterm-accessibility-tree"


@pytest.fixture
def two_host_lab(
    tmp_path: Path, sshd: SSHServer, sshd_factory, ssh_user: LocalUser
) -> Iterator[LabServer]:
    other = sshd_factory()
    server = browser_lab(tmp_path, {"real": sshd, "other": other})
    for name, host in (("real", sshd), ("other", other)):
        login = {"username": ssh_user.name, "password": ssh_user.password}
        path = f"workbench/api/v1/instances/{name}"
        status, body = server.call("POST", f"{path}/login", login)
        assert status == 409 and body["error"] == "host_key_unknown"
        fingerprint = {"fingerprint": host.host_key_fingerprint}
        assert server.call("POST", f"{path}/hostkey", fingerprint)[0] == 200
        assert server.call("POST", f"{path}/login", login)[0] == 200
    yield server
    server.stop()


def open_terminal(page: Page, name: str):
    page.locator(".jp-LauncherCard", has_text="Instance Terminal").first.click()
    page.locator(f'.jp-workbench-picker-row[data-instance="{name}"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Open", exact=True).click()
    panel = page.locator(f'.jp-workbench-terminal[data-instance="{name}"]')
    expect(panel.locator(TERMINAL_TEXT)).to_contain_text("$")
    return panel


def rows(panel, pattern: str):
    return panel.locator(f"{TERMINAL_TEXT} > *").filter(
        has_text=re.compile(rf"^\s*{pattern}\s*$")
    )


def test_broadcast_reaches_both_terminals_and_marks_a_differing_pane(
    page: Page, two_host_lab: LabServer
):
    page.goto(f"{two_host_lab.url}lab?token={two_host_lab.token}")
    page.locator(".jp-LauncherCard", has_text="Instance Terminal").wait_for()
    real = open_terminal(page, "real")
    page.get_by_role("menuitem", name="File").click()
    page.get_by_role("menuitem", name="New Launcher").click()
    other = open_terminal(page, "other")
    # Side by side, so both terminals render while one is typed into.
    other_tab = page.locator(".lm-TabBar-tab", has_text="other terminal")
    box = page.locator(".lm-DockPanel").bounding_box()
    other_tab.drag_to(
        page.locator(".lm-DockPanel"),
        target_position={"x": box["width"] - 40, "y": box["height"] / 2},
    )

    for panel in (real, other):
        panel.locator(".jp-workbench-broadcast-button").click()
        expect(panel).to_have_attribute("data-broadcast", "on")

    real.locator(".xterm-screen").click()
    page.keyboard.type("echo $((6*7))")
    page.keyboard.press("Enter")
    expect(rows(real, "42")).to_have_count(1)
    expect(rows(other, "42")).to_have_count(1)
    expect(real).to_have_attribute("data-broadcast-differs", "false")
    expect(other).to_have_attribute("data-broadcast-differs", "false")

    # The server port differs between the two hosts: both panes differ.
    page.keyboard.type('echo "port ${SSH_CONNECTION##* }"')
    page.keyboard.press("Enter")
    expect(rows(real, r"port \d+")).to_have_count(1)
    expect(rows(other, r"port \d+")).to_have_count(1)
    expect(real).to_have_attribute("data-broadcast-differs", "true")
    expect(other).to_have_attribute("data-broadcast-differs", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "broadcast.png"))

    # Broadcast off on one pane: typing there stays there.
    other.locator(".jp-workbench-broadcast-button").click()
    expect(other).to_have_attribute("data-broadcast", "off")
    other.locator(".xterm-screen").click()
    page.keyboard.type("echo only-$((1+1))")
    page.keyboard.press("Enter")
    expect(rows(other, "only-2")).to_have_count(1)
    expect(rows(real, "only-2")).to_have_count(0)
