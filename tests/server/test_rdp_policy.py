"""Access policies apply to remote desktops (action ecs-workbench:ConnectRDP).

guacd is the STAND-IN of `tests/guacd_standin.py` (guacd is not packaged here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from guacd_standin import GuacdStandIn


@pytest.fixture
def jp_server_config(guacd: GuacdStandIn, tmp_path: Path) -> dict[str, Any]:
    allow_win1 = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs-workbench:ConnectRDP",
                "Resource": "acs:ecs-workbench:*:*:workbench/win-1",
            }
        ],
    }
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_workbench": True}},
        "WorkbenchApp": {
            "instances": [
                {"name": "win-1", "host": "127.0.0.1", "protocol": "rdp"},
                {"name": "win-2", "host": "127.0.0.1", "protocol": "rdp"},
            ],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
            "guacd_host": guacd.host,
            "guacd_port": guacd.port,
            "policies": [{"name": "rdp-win-1", "users": ["*"], "document": allow_win1}],
        },
    }


async def test_connect_rdp_is_checked_per_instance(api, guacd):
    body = {"username": "a", "password": "secret"}

    allowed, created = await api("POST", "rdp", body={"instance": "win-1", **body})
    denied, refusal = await api("POST", "rdp", body={"instance": "win-2", **body})

    assert allowed == 201, created
    assert denied == 403 and refusal["error"] == "policy_denied", refusal
    assert refusal["details"]["action"] == "ecs-workbench:ConnectRDP"
    assert "secret" not in str(refusal)
