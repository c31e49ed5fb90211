"""The "Manage Instance…" panel in JupyterLab, in real Chromium, on the real sshd."""

from __future__ import annotations

import os

from labserver import ARTIFACTS, LabServer
from playwright.sync_api import Page, expect
from sshd import USER_COMMENT, LocalUser, SSHServer

API = "workbench/api/v1/instances/real"


def log_in_by_api(lab: LabServer, sshd: SSHServer, user: LocalUser) -> None:
    """Trust the host key, fail once (a btmp record), then log in."""
    wrong = {"username": user.name, "password": "not-the-password"}
    status, body = lab.call("POST", f"{API}/login", wrong)
    assert status == 409 and body["error"] == "host_key_unknown", body
    fingerprint = {"fingerprint": sshd.host_key_fingerprint}
    assert lab.call("POST", f"{API}/hostkey", fingerprint)[0] == 200
    status, body = lab.call("POST", f"{API}/login", wrong)
    assert status == 401, body
    right = {"username": user.name, "password": user.password}
    status, body = lab.call("POST", f"{API}/login", right)
    assert status == 200, body


def open_panel(page: Page, lab: LabServer) -> None:
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.locator(".jp-LauncherCard").first.wait_for()
    page.keyboard.press("Control+Shift+c")
    page.locator(".lm-CommandPalette-input").fill("Manage Instance")
    page.locator(".lm-CommandPalette-item", has_text="Manage Instance").first.click()
    page.locator('.jp-workbench-picker-row[data-instance="real"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Open", exact=True).click()


def test_panel_lists_users_and_logons_and_locks_with_confirmation(
    page: Page,
    lab: LabServer,
    sshd: SSHServer,
    sudo_user: LocalUser,
    new_user_name: str,
):
    log_in_by_api(lab, sshd, sudo_user)
    status, body = lab.call(
        "POST",
        f"{API}/system/users",
        {"name": new_user_name, "comment": f"{USER_COMMENT}{os.getpid()}"},
    )
    assert status == 201, body

    open_panel(page, lab)
    panel = page.locator(".jp-workbench-system")
    expect(panel).to_have_attribute("data-state", "ready")
    expect(page.locator(".jp-workbench-system-facts")).to_contain_text("Debian")
    users = page.locator('.jp-workbench-table[data-kind="users"]')
    expect(users.locator('td[data-key="name"]', has_text=sudo_user.name)).to_have_count(
        1
    )

    # Filter and sort.
    users.locator("input[type=search]").fill(new_user_name)
    expect(users).to_have_attribute("data-rows", "1")
    row = users.locator("tbody tr", has_text=new_user_name)
    expect(row.locator('td[data-key="locked"]')).to_have_text("no")
    uid = users.locator('th[data-key="uid"]')
    uid.click()
    expect(uid).to_have_attribute("aria-sort", "ascending")
    uid.click()
    expect(uid).to_have_attribute("aria-sort", "descending")

    # Lock, cancelled first, then confirmed.
    row.locator('button[data-action="Lock"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Cancel").click()
    expect(row.locator('td[data-key="locked"]')).to_have_text("no")
    row.locator('button[data-action="Lock"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Do it").click()
    expect(row.locator('td[data-key="locked"]')).to_have_text("yes")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "system-users.png"))

    # Logons: the failed and the successful attempt of the admin user.
    page.locator('.jp-workbench-system-tab[data-tab="logons"]').click()
    logons = page.locator('.jp-workbench-table[data-kind="logons"]')
    page.locator("#jp-workbench-logons-user").fill(sudo_user.name)
    page.locator("#jp-workbench-logons-user").dispatch_event("change")
    failed = logons.locator("tbody tr", has_text="failed")
    expect(failed.first.locator('td[data-key="source"]')).to_have_text("127.0.0.1")
    expect(failed.first.locator('td[data-key="user"]')).to_have_text(sudo_user.name)
    page.screenshot(path=str(ARTIFACTS / "system-logons.png"))

    page.locator('.jp-workbench-system-tab[data-tab="services"]').click()
    services = page.locator('.jp-workbench-table[data-kind="services"]')
    expect(services.locator('td[data-key="name"]', has_text="ssh")).not_to_have_count(0)
    assert sudo_user.password not in lab.log_text()

    # The context menu of a terminal on the instance opens (here: shows) its panel.
    page.locator('.jp-workbench-system-tab[data-tab="users"]').click()
    page.keyboard.press("Control+Shift+c")
    page.locator(".lm-CommandPalette-input").fill("Instance Terminal")
    page.locator(".lm-CommandPalette-item", has_text="Instance Terminal").first.click()
    page.locator('.jp-workbench-picker-row[data-instance="real"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Open", exact=True).click()
    terminal = page.locator(".jp-workbench-terminal")
    expect(terminal).to_be_visible()
    terminal.click(button="right")
    page.locator(".lm-Menu-item", has_text="Manage Instance").click()
    current = page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current")
    expect(current).to_contain_text("real system")
