"""The command-cell widget in a real notebook, in Chromium, on two real sshd hosts.

A notebook cell makes ``wb.command_cell()`` in a real kernel; the test then
uses the widget as a person would: picks both hosts, types a command, runs
it and reads each host's status and output, then runs a long command and
cancels it. It does so in JupyterLab and in Notebook 7, the two front ends
the issue names.
"""

from __future__ import annotations

import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import pids_with
from labserver import (
    ARTIFACTS,
    LabServer,
    browser_lab,
    log_in_to_hosts,
    write_notebook,
)
from playwright.sync_api import Page, expect
from sshd import LocalUser, SSHServer
from test_widgets_ui import run_cell

CELL = "from jupyter_workbench import Workbench\nwb = Workbench()\nwb.command_cell()"
SLEEP = "sleep 607"


@pytest.fixture
def hosts(sshd: SSHServer, sshd_factory) -> dict[str, SSHServer]:
    return {"real": sshd, "other": sshd_factory()}


@pytest.fixture
def cell_lab(
    tmp_path: Path, hosts: dict[str, SSHServer], ssh_user: LocalUser
) -> Iterator[LabServer]:
    server = browser_lab(tmp_path, hosts)
    log_in_to_hosts(server, hosts, ssh_user)
    write_notebook(server.directory / "root" / "cell.ipynb", [CELL])
    yield server
    server.stop()


@pytest.mark.parametrize("front_end", ["lab/tree", "notebooks"])
def test_command_cell_runs_and_cancels_in_a_notebook(
    page: Page,
    cell_lab: LabServer,
    hosts: dict[str, SSHServer],
    ssh_user: LocalUser,
    front_end: str,
):
    uid = pwd.getpwnam(ssh_user.name).pw_uid
    page.goto(f"{cell_lab.url}{front_end}/cell.ipynb?token={cell_lab.token}")
    run_cell(page, 0)

    widget = page.locator(".jp-OutputArea-output .widget-vbox").first
    picker = widget.locator(".widget-select-multiple select")
    expect(picker.locator("option")).to_have_count(2, timeout=90_000)
    picker.select_option(["real", "other"])
    command = widget.locator(".widget-textarea textarea")
    command.fill('echo "port ${SSH_CONNECTION##* }"; echo warn >&2')
    widget.get_by_role("button", name="Run", exact=True).click()

    for name in hosts:
        expect(widget.locator("table tbody tr", has_text=name)).to_contain_text("ok")
    titles = widget.locator(".jupyter-widget-Collapse-header")
    expect(titles).to_have_count(2)
    for name, host in hosts.items():
        title = titles.filter(has_text=f"{name}: ok")
        expect(title).to_have_count(1)
        title.click()
        pane = widget.locator(".jupyter-widget-Collapse-open pre").filter(
            has_text=f"port {host.port}"
        )
        expect(pane).to_have_count(1)
        expect(pane).to_contain_text("--- stderr ---")
        expect(pane).to_contain_text("warn")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"command-cell-{front_end[:3]}.png"))

    # A long command on both hosts, cancelled from the widget.
    command.fill(SLEEP)
    widget.get_by_role("button", name="Run", exact=True).click()
    for name in hosts:
        expect(widget.locator("table tbody tr", has_text=name)).to_contain_text(
            "running"
        )
    deadline = time.monotonic() + 30
    while len(pids_with(uid, SLEEP)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pids_with(uid, SLEEP)) >= 2
    cancel = widget.get_by_role("button", name="Cancel", exact=True)
    expect(cancel).to_be_enabled()
    cancel.click()
    for name in hosts:
        expect(widget.locator("table tbody tr", has_text=name)).to_contain_text(
            "cancelled"
        )
    expect(widget.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    assert not pids_with(uid, SLEEP)
