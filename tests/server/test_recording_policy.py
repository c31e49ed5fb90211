"""A policy that requires recorded sessions, on a real server, sshd and STAND-IN guacd.

The policy denies ``LoginInstance`` and ``ConnectRDP`` when
``ecs-workbench:SessionRecorded`` is false, and the server's
``record_terminals`` is off: terminals are recorded because the policy
says so, and desktops (which the gateway cannot record) are refused.
guacd is the stand-in of `tests/guacd_standin.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from guacd_standin import GuacdStandIn
from sshd import SSHServer
from test_audit_api import desktop_and_shell_config
from test_routes import login

from jupyter_workbench.gateway.recording import read_cast

LOGIN = "ecs-workbench:LoginInstance"
RECORDED_ONLY = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": "ecs-workbench:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": [LOGIN, "ecs-workbench:ConnectRDP"],
            "Resource": "*",
            "Condition": {"Bool": {"ecs-workbench:SessionRecorded": "false"}},
        },
    ],
}


@pytest.fixture
def jp_server_config(
    sshd: SSHServer, guacd: GuacdStandIn, tmp_path: Path
) -> dict[str, Any]:
    return desktop_and_shell_config(
        sshd,
        guacd,
        tmp_path,
        record_terminals=False,
        policies=[{"name": "recorded", "users": ["*"], "document": RECORDED_ONLY}],
    )


async def test_terminals_are_recorded_because_the_policy_requires_it(
    api, sshd, ssh_user, tmp_path
):
    await login(api, sshd, ssh_user)
    status, terminal = await api("POST", "terminals", body={"instance": "real"})
    assert status == 201, terminal
    status, _ = await api("DELETE", "terminals", terminal["id"])
    assert status == 204

    status, listing = await api("GET", "recordings")
    assert [r["id"] for r in listing["recordings"]] == [terminal["id"]]
    path = tmp_path / "workbench" / "recordings"
    [cast] = list(path.rglob(f"{terminal['id']}.cast"))
    header, _events = read_cast(cast)
    assert header["title"] == f"{ssh_user.name}@real"


async def test_explain_answers_for_recorded_and_unrecorded_sessions(api):
    query = {"action": LOGIN, "instance": "real"}
    answers = {}
    for recorded in ("", "false", "true"):
        status, body = await api(
            "GET", "policy", "explain", params={**query, "session_recorded": recorded}
        )
        assert status == 200, body
        answers[recorded] = body["explanation"]
    assert answers == {
        "": "allowed, because statement 1 of policy recorded allows it",
        "false": "denied, because statement 2 of policy recorded denies it",
        "true": "allowed, because statement 1 of policy recorded allows it",
    }
    status, body = await api(
        "GET", "policy", "explain", params={**query, "session_recorded": "maybe"}
    )
    assert status == 400


async def test_desktops_are_refused_when_sessions_must_be_recorded(api):
    body = {"instance": "win-1", "username": "a", "password": "secret"}
    status, refusal = await api("POST", "rdp", body=body)
    assert status == 403 and refusal["error"] == "policy_denied", refusal
    assert refusal["details"]["statement"] == 2
    assert "secret" not in str(refusal)
