"""The notebook widgets in real Chromium: login dialog and terminal widget.

A notebook is written to the server's root, opened in JupyterLab (and once
in Notebook 7), and its cells run in a real kernel of that server; the
widgets talk to the real sshd through the server. Terminal text is read
from xterm.js's screen-reader rows (``.xterm-accessibility-tree``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import ARTIFACTS, LabServer, browser_lab, write_notebook
from playwright.sync_api import Page, expect
from sshd import LocalUser, SSHServer

#: The first cell waits for a kernel to start, which is slow on a busy machine.
KERNEL_START = 120_000

CELLS = [
    "from jupyter_workbench import Workbench\n"
    "wb = Workbench()\n"
    'dialog = wb.login_dialog("real")\n'
    "dialog",
    't = wb.terminal("real", screen_reader=True, height="16em")\nt',
]


def save_widget_state(directory: Path) -> None:
    """Turn on saving widget state in the notebook, so the test can read it."""
    settings = directory / "lab-settings" / "@jupyter-widgets" / "jupyterlab-manager"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "plugin.jupyterlab-settings").write_text(
        json.dumps({"saveState": True})
    )


def run_cell(page: Page, index: int) -> None:
    """Run one cell, once its kernel is there.

    A cell run before the notebook's kernel has connected is not run at
    all (its prompt stays ``[ ]``), so try again until the kernel takes it.
    """
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    # A notebook opened before the front end has loaded the kernel specs
    # asks which kernel to start, even though the file names one; that
    # modal would keep every click away from the cell.
    chooser = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
    for _ in range(60):
        if chooser.is_visible():
            chooser.get_by_role("button", name="Select", exact=True).click()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(prompt).not_to_have_text("[ ]:", timeout=5_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"cell {index} never ran: {prompt.text_content()}")


def log_in_with_dialog(page: Page, sshd: SSHServer, user: LocalUser) -> None:
    dialog = page.locator(".jp-WorkbenchLoginDialog")
    expect(dialog).to_be_visible(timeout=KERNEL_START)
    dialog.get_by_role("textbox", name="User", exact=True).fill(user.name)
    password = dialog.get_by_role("textbox", name="Password", exact=True)
    password.fill(user.password)
    dialog.get_by_role("button", name="Log in").click()
    expect(dialog.locator(".jp-WorkbenchFingerprint")).to_have_text(
        sshd.host_key_fingerprint
    )
    dialog.get_by_role("button", name="Accept").click()
    expect(dialog).to_contain_text(f"Logged in to real as {user.name}")
    # The form no longer holds the password, in the browser either.
    expect(password).to_have_value("")


def type_in_terminal(page: Page) -> None:
    widget = page.locator(".jp-WorkbenchTerminalWidget")
    expect(widget).to_have_attribute("data-workbench-status", "connected")
    widget.locator(".xterm-screen").click()
    page.keyboard.type("echo hi-$((6*7))")
    page.keyboard.press("Enter")
    expect(widget.locator(".xterm-accessibility-tree")).to_contain_text("hi-42")


@pytest.fixture
def notebook_lab(tmp_path: Path, sshd: SSHServer) -> Iterator[LabServer]:
    save_widget_state(tmp_path)
    server = browser_lab(tmp_path, {"real": sshd})
    write_notebook(server.directory / "root" / "widgets.ipynb", CELLS)
    yield server
    server.stop()


def test_login_dialog_then_terminal_widget_echoes_and_reattaches(
    page: Page, notebook_lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    lab = notebook_lab
    page.goto(f"{lab.url}lab/tree/widgets.ipynb?token={lab.token}")
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(2)

    run_cell(page, 0)
    log_in_with_dialog(page, sshd, ssh_user)
    run_cell(page, 1)
    type_in_terminal(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "terminal-widget.png"))

    # Saved with its widget state, the notebook holds no secret.
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    saved_path = lab.directory / "root" / "widgets.ipynb"
    expect(page.locator(".jp-Notebook")).to_be_visible()
    page.wait_for_function(
        "() => !document.querySelector('.jp-mod-dirty')", timeout=30_000
    )
    saved = saved_path.read_text()
    assert "application/vnd.jupyter.widget-state+json" in saved
    assert ssh_user.name in saved  # the user name field: the state is there
    assert ssh_user.password not in saved
    assert lab.token not in saved

    # A reload reattaches to the same session, with its scrollback.
    page.reload()
    widget = page.locator(".jp-WorkbenchTerminalWidget")
    expect(widget.locator(".xterm-accessibility-tree")).to_contain_text(
        "hi-42", timeout=KERNEL_START
    )
    expect(widget).to_have_attribute("data-workbench-status", "connected")
    assert ssh_user.password not in lab.log_text()


def test_terminal_widget_follows_width_and_theme_and_shows_why_it_ended(
    page: Page, notebook_lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    lab = notebook_lab
    page.goto(f"{lab.url}lab/tree/widgets.ipynb?token={lab.token}")
    run_cell(page, 0)
    log_in_with_dialog(page, sshd, ssh_user)
    run_cell(page, 1)
    widget = page.locator(".jp-WorkbenchTerminalWidget")
    expect(widget).to_have_attribute("data-workbench-status", "connected")
    terminal_id = widget.get_attribute("data-workbench-terminal")
    session = f"workbench/api/v1/terminals/{terminal_id}"

    # The PTY follows the output area's width (the widget fits and resizes).
    wide = lab.get(session)["cols"]
    page.set_viewport_size({"width": 900, "height": 800})
    page.wait_for_function(
        "([url, wide]) => fetch(url).then(r => r.json()).then(t => t.cols < wide)",
        arg=[f"{lab.url}{session}", wide],
        timeout=30_000,
        polling=500,
    )

    # The screen takes the JupyterLab theme's colours, and follows a change.
    viewport = widget.locator(".xterm-viewport")
    light = viewport.evaluate("e => getComputedStyle(e).backgroundColor")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Use Theme: JupyterLab Dark")
    page.keyboard.press("Enter")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    page.wait_for_function(
        "([selector, light]) => getComputedStyle(document.querySelector(selector))"
        ".backgroundColor !== light",
        arg=[".jp-WorkbenchTerminalWidget .xterm-viewport", light],
        timeout=30_000,
    )

    widget.locator(".xterm-screen").click()
    page.keyboard.type("exit 3")
    page.keyboard.press("Enter")

    expect(widget).to_have_attribute("data-workbench-status", "ended")
    status = widget.locator(".jp-WorkbenchTerminalWidget-status")
    expect(status).to_have_text("Remote shell exited with status 3")
    screen = widget.locator(".xterm-accessibility-tree")
    expect(screen).to_contain_text("[Remote shell exited with status 3]")
    # Written once: by the server, not a second time by the widget.
    assert screen.text_content().count("exited with status 3") == 1


def test_terminal_widget_of_an_in_process_gateway(
    page: Page, notebook_lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    """No server gateway: the session runs in the kernel, over the widget comm."""
    lab = notebook_lab
    inventory = lab.directory / "fleet.toml"
    inventory.write_text(
        f'[[instances]]\nname = "real"\nhost = "{sshd.host}"\nport = {sshd.port}\n'
    )
    setup = (
        "from jupyter_workbench import Workbench\n"
        f"wb = Workbench(inventory={str(inventory)!r}, "
        f"data_dir={str(lab.directory / 'in-process')!r})\n"
        'dialog = wb.login_dialog("real")\n'
        "dialog"
    )
    write_notebook(lab.directory / "root" / "widgets.ipynb", [setup, CELLS[1]])
    page.goto(f"{lab.url}lab/tree/widgets.ipynb?token={lab.token}")
    run_cell(page, 0)
    log_in_with_dialog(page, sshd, ssh_user)
    run_cell(page, 1)
    type_in_terminal(page)
    # The server's gateway was never used: the kernel holds the session.
    assert lab.get("workbench/api/v1/terminals")["terminals"] == []


def test_terminal_widget_in_notebook_7(
    page: Page, tmp_path: Path, sshd: SSHServer, ssh_user: LocalUser
):
    server = browser_lab(
        tmp_path, {"real": sshd}, command=[sys.executable, "-m", "notebook"]
    )
    try:
        write_notebook(server.directory / "root" / "widgets.ipynb", CELLS)
        page.goto(f"{server.url}notebooks/widgets.ipynb?token={server.token}")
        expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(
            2, timeout=KERNEL_START
        )
        run_cell(page, 0)
        log_in_with_dialog(page, sshd, ssh_user)
        run_cell(page, 1)
        type_in_terminal(page)
        page.screenshot(path=str(ARTIFACTS / "terminal-widget-notebook7.png"))
    finally:
        server.stop()
