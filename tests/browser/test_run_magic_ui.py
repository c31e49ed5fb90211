"""``%workbench run`` in a JupyterLab notebook, in Chromium, on two real sshd hosts.

The cells run in a real kernel of the server; the output area must show
each host's output lines as they arrive (``host | line``), the progress
bar, and the per-host summary table the magic returns, with one host
failing in the cell-magic form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import (
    ARTIFACTS,
    LabServer,
    browser_lab,
    log_in_to_hosts,
    write_notebook,
)
from playwright.sync_api import Page, expect
from sshd import LocalUser, SSHServer


def cells(other_port: int) -> list[str]:
    return [
        "%load_ext jupyter_workbench",
        "%workbench run real,other -- echo hello from $(whoami)",
        "%%workbench run real,other --timeout 60\n"
        'port="${SSH_CONNECTION##* }"\n'
        'echo "port $port"\n'
        f'[ "$port" != "{other_port}" ] || {{ echo "no good" >&2; exit 3; }}',
    ]


@pytest.fixture
def hosts(sshd: SSHServer, sshd_factory) -> dict[str, SSHServer]:
    return {"real": sshd, "other": sshd_factory()}


@pytest.fixture
def run_lab(
    tmp_path: Path, hosts: dict[str, SSHServer], ssh_user: LocalUser
) -> Iterator[LabServer]:
    server = browser_lab(tmp_path, hosts)
    log_in_to_hosts(server, hosts, ssh_user)
    write_notebook(server.directory / "root" / "runs.ipynb", cells(hosts["other"].port))
    yield server
    server.stop()


def test_run_magic_shows_per_host_results_in_the_output_area(
    page: Page, run_lab: LabServer, hosts: dict[str, SSHServer], ssh_user: LocalUser
):
    page.goto(f"{run_lab.url}lab/tree/runs.ipynb?token={run_lab.token}")
    # Cells run before the kernel is up are not queued: wait for it.
    idle = page.get_by_role("button", name=re.compile(r"ipykernel\) \| Idle"))
    expect(idle).to_be_visible(timeout=120_000)
    page.locator(".jp-Cell .cm-content").first.click()
    for _ in range(3):
        page.keyboard.press("Shift+Enter")

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    line, block = cells.nth(1), cells.nth(2)
    # Live output: every line prefixed with its host, padded to one width.
    for name in hosts:
        expect(line.locator(".jp-OutputArea-output pre")).to_contain_text(
            f"{name:<5} | hello from {ssh_user.name}", timeout=90_000
        )
    progress = line.locator(".widget-hprogress")
    expect(progress).to_have_count(1)
    expect(progress.locator(".widget-label")).to_have_text("2/2")
    summary = line.locator(".jp-OutputArea-output table")
    for name in hosts:
        expect(summary.locator("tbody tr", has_text=name)).to_contain_text("ok")

    table = block.locator(".jp-OutputArea-output table")
    expect(table.locator("caption")).to_contain_text("1 failed, 1 ok")
    real = table.locator("tbody tr", has_text="real")
    other = table.locator("tbody tr", has_text="other")
    expect(real.locator("td").nth(1)).to_have_text("ok")
    expect(real.locator("td").nth(4)).to_have_text(f"port {hosts['real'].port}")
    expect(other.locator("td").nth(1)).to_have_text("failed")
    expect(other.locator("td").nth(2)).to_have_text("3")
    # stderr lines are shown too, in the output area's error colour.
    expect(
        block.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        )
    ).to_contain_text("other | no good")
    # The command's "$" signs are text, not LaTeX for MathJax.
    expect(table.locator("caption")).to_contain_text('port="${SSH_CONNECTION##* }"')
    expect(block.locator("mjx-container")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-magic.png"), full_page=True)
