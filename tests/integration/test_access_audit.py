"""Policies, audit and the gateway key end to end, against the real OpenSSH sshd.

The gateways here read their policies from a file that the tests rewrite
while logins are in progress, and their audit log is read back after real
operations.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sshd import LocalUser, SSHServer
from wbtest import PRINCIPAL, host_key, instance_for

from jupyter_workbench.gateway.access import AccessConfig
from jupyter_workbench.gateway.connect import LoginChallenge
from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import NotLoggedIn, PolicyDenied
from jupyter_workbench.gateway.gateway import Gateway
from jupyter_workbench.gateway.pool import Login

pytestmark = pytest.mark.asyncio

LOGIN = "ecs-workbench:LoginInstance"


def statement(effect: str, action: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": "*", **extra}


def write_policies(path: Path, *statements: dict[str, Any]) -> None:
    """Write a policy file attached to every user, with a new mtime."""
    data = {
        "policies": [
            {
                "name": "test",
                "users": ["*"],
                "document": {"Version": "1", "Statement": list(statements)},
            }
        ]
    }
    path.write_text(json.dumps(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def audit(gateway: Gateway) -> list[dict[str, Any]]:
    return gateway.access.audit.events()


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policies.json"
    write_policies(path, statement("Allow", "ecs-workbench:*"))
    return path


@pytest.fixture
def guarded(make_gateway, sshd: SSHServer, policy_file: Path) -> Gateway:
    """The shared sshd as ``real``, under the policy file, host key trusted."""
    gateway = make_gateway(
        instance_for(sshd),
        access=AccessConfig(policy_file=policy_file, admins={PRINCIPAL}),
    )
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    return gateway


async def test_answering_a_prompt_rechecks_the_policy(
    guarded: Gateway, policy_file: Path, sshd: SSHServer, ssh_user: LocalUser
):
    prompt = await guarded.login(PRINCIPAL, "real", Credentials(ssh_user.name))
    assert isinstance(prompt, LoginChallenge)

    # The administrator denies logins while the user types the password.
    write_policies(
        policy_file,
        statement("Allow", "ecs-workbench:*"),
        statement("Deny", LOGIN),
    )
    with pytest.raises(PolicyDenied, match="statement 2 of policy test denies it"):
        await guarded.respond(PRINCIPAL, prompt.id, [ssh_user.password])

    assert guarded.pool.login_for(PRINCIPAL, "real") is None
    with pytest.raises(NotLoggedIn, match="expired"):
        await guarded.respond(PRINCIPAL, prompt.id, [ssh_user.password])
    denied = [e for e in audit(guarded) if e["event"] == "denied"]
    assert denied and denied[-1]["action"] == LOGIN
    assert ssh_user.password not in guarded.access.audit.path.read_text()

    # With the Deny lifted, the same kind of login goes through.
    write_policies(policy_file, statement("Allow", "ecs-workbench:*"))
    prompt = await guarded.login(PRINCIPAL, "real", Credentials(ssh_user.name))
    assert isinstance(prompt, LoginChallenge)
    login = await guarded.respond(PRINCIPAL, prompt.id, [ssh_user.password])
    assert isinstance(login, Login)
