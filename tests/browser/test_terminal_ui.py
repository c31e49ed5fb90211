"""The Instance Terminal in JupyterLab, through the UI, on the real sshd."""

from __future__ import annotations

import re

from labserver import ARTIFACTS, LabServer
from playwright.sync_api import Page, expect
from sshd import LocalUser, SSHServer

#: xterm.js draws on a canvas; in screen-reader mode it mirrors each row as
#: a DOM element, which is what these tests read.
TERMINAL_TEXT = ".jp-Terminal .xterm-accessibility-tree"


def open_lab(page: Page, lab: LabServer) -> None:
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.locator(".jp-LauncherCard", has_text="Instance Terminal").wait_for()


def terminal_row(page: Page, pattern: str):
    """Return the terminal rows whose whole text matches *pattern*."""
    rows = page.locator(f"{TERMINAL_TEXT} > *")
    return rows.filter(has_text=re.compile(rf"^\s*{pattern}\s*$"))


def dialog_button(page: Page, name: str):
    return page.locator(".jp-Dialog").get_by_role("button", name=name, exact=True)


def type_in_terminal(page: Page, text: str) -> None:
    page.locator(".jp-Terminal .xterm-screen").click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def log_in_through_the_ui(page: Page, lab: LabServer, user: str, password: str) -> None:
    """Open the Instance Terminal on ``real`` and submit the login dialog."""
    open_lab(page, lab)
    page.locator(".jp-LauncherCard", has_text="Instance Terminal").click()
    page.locator('.jp-workbench-picker-row[data-instance="real"]').click()
    dialog_button(page, "Open").click()
    page.locator("#jp-workbench-login-username").fill(user)
    page.locator("#jp-workbench-login-password").fill(password)
    dialog_button(page, "Log in").click()


def test_open_log_in_confirm_host_key_and_compute(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    log_in_through_the_ui(page, lab, ssh_user.name, ssh_user.password)

    fingerprint = page.locator("#jp-workbench-hostkey-fingerprint")
    expect(fingerprint).to_have_text(sshd.host_key_fingerprint)
    dialog_button(page, "Trust and connect").click()

    expect(page.locator(TERMINAL_TEXT)).to_contain_text(ssh_user.name)
    type_in_terminal(page, "echo $((6*7))")
    expect(terminal_row(page, "42")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "instance-terminal.png"))
    assert ssh_user.password not in lab.log_text()

    # A reload reattaches to the same shell, with its scrollback.
    page.reload()
    expect(terminal_row(page, "42")).to_have_count(1)
    type_in_terminal(page, "echo after-reload-$((2+3))")
    expect(terminal_row(page, "after-reload-5")).to_have_count(1)
    status, body = lab.call("GET", "workbench/api/v1/terminals")
    assert len(body["terminals"]) == 1, (
        "the reload reattached instead of opening a new shell"
    )


def test_wrong_password_is_shown_in_the_login_dialog(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    log_in_through_the_ui(page, lab, ssh_user.name, "not-the-password")
    dialog_button(page, "Trust and connect").click()

    error = page.locator("#jp-workbench-login-error")
    expect(error).to_contain_text("Authentication failed")
    expect(page.locator("#jp-workbench-login-username")).to_have_value(ssh_user.name)


def test_log_out_and_forget_host_key_from_the_palette(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    log_in_through_the_ui(page, lab, ssh_user.name, ssh_user.password)
    dialog_button(page, "Trust and connect").click()
    expect(page.locator(TERMINAL_TEXT)).to_contain_text(ssh_user.name)

    run_from_palette(page, "Log Out of Instance")
    page.locator('.jp-workbench-picker-row[data-instance="real"]').click()
    dialog_button(page, "Open").click()
    dialog_button(page, "Log out").click()

    expect(terminal_row(page, r"\[Logged out\]")).to_have_count(1)
    status, body = lab.call("GET", "workbench/api/v1/instances")
    assert body["instances"][0]["logged_in"] is False

    run_from_palette(page, "Forget Host Key")
    page.locator('.jp-workbench-picker-row[data-instance="real"]').click()
    dialog_button(page, "Open").click()
    dialog_button(page, "Forget").click()

    expect(page.get_by_text("Host keys of real forgotten")).to_be_visible()
    status, body = lab.call("GET", "workbench/api/v1/instances/real/hostkey")
    assert body["known"] == []


def run_from_palette(page: Page, label: str) -> None:
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill(label)
    page.keyboard.press("Enter")
