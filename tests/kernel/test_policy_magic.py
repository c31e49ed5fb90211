"""``%workbench policy check`` on an in-process gateway with policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_workbench.gateway.access import AccessConfig
from jupyter_workbench.gateway.policy import parse_policies
from jupyter_workbench.kernel.client import Workbench
from jupyter_workbench.kernel.magics import WorkbenchMagics

POLICIES = [
    {
        "name": "web-only",
        "users": ["alice"],
        "document": {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "ecs-workbench:*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "ecs-workbench:UploadFile",
                    "Resource": "acs:ecs-workbench:*:*:workbench/i-db*",
                },
            ],
        },
    }
]


@pytest.fixture
def magics(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config instances
    inventory = tmp_path / "fleet.toml"
    inventory.write_text(
        '[[instances]]\nname = "db"\nid = "i-db1"\nhost = "10.0.0.9"\n'
        '[[instances]]\nname = "web"\nid = "i-web1"\nhost = "10.0.0.8"\n'
    )
    access = AccessConfig(policies=parse_policies(POLICIES, where="test"))
    wb = Workbench(inventory=inventory, data_dir=tmp_path / "data", access=access)
    yield WorkbenchMagics(None, lambda: wb)
    wb.close()


def test_policy_check_says_why(magics, capsys):
    magics.workbench("policy check alice UploadFile db")
    magics.workbench("policy check alice ecs-workbench:UploadFile web")
    magics.workbench("policy check bob LoginInstance web")

    out = capsys.readouterr().out.splitlines()
    assert out == [
        "alice: ecs-workbench:UploadFile on db: denied, because statement 2 of "
        "policy web-only denies it",
        "alice: ecs-workbench:UploadFile on web: allowed, because statement 1 of "
        "policy web-only allows it",
        "bob: ecs-workbench:LoginInstance on web: denied, because no statement "
        "allows it for bob",
    ]


def test_policy_check_errors_are_one_line(magics, capsys):
    magics.workbench("policy check alice LoginInstance nowhere")
    magics.workbench("policy show")
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err
    assert "wrong arguments for 'policy'" in err
