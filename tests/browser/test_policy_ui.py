"""The instance picker disables instances that the access policies do not open."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer
from playwright.sync_api import Page, expect
from sshd import SSHServer


@pytest.fixture
def policed_lab(tmp_path: Path, sshd: SSHServer) -> Iterator[LabServer]:
    # jupyter-server's own token login: owner mode, the principal is this
    # process's user.
    document = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs-workbench:LoginInstance",
                "Resource": "acs:ecs-workbench:*:*:workbench/i-open",
            }
        ],
    }
    config = {
        "WorkbenchApp": {
            "instances": [
                {"name": "open", "id": "i-open", "host": sshd.host, "port": sshd.port},
                {
                    "name": "locked",
                    "id": "i-locked",
                    "host": sshd.host,
                    "port": sshd.port,
                },
            ],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
            "policies": [
                {
                    "name": "open-only",
                    "users": [getpass.getuser()],
                    "document": document,
                }
            ],
        },
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        },
    }
    server = LabServer(tmp_path / "lab", config=config).start()
    yield server
    server.stop()


def test_picker_disables_instances_whose_login_is_denied(page: Page, policed_lab):
    page.goto(f"{policed_lab.url}lab?token={policed_lab.token}")
    card = page.locator(".jp-LauncherCard", has_text="Instance Terminal")
    card.click()

    locked = page.locator('.jp-workbench-picker-row[data-instance="locked"]')
    expect(locked).to_contain_text("not allowed by the access policies")
    expect(locked.locator("input")).to_be_disabled()
    opened = page.locator('.jp-workbench-picker-row[data-instance="open"]')
    expect(opened.locator("input")).to_be_enabled()
    expect(opened.locator("input")).to_be_checked()

    # Typing a filter that matches only the locked row selects nothing.
    page.locator("#jp-workbench-picker-filter").fill("locked")
    expect(locked.locator("input")).not_to_be_checked()
