"""Network rules on real connections: names, spellings, jump hosts, diagnosis.

The real sshd listens on 127.0.0.1, so a deny rule for loopback stands in
for a metadata address here: every spelling of 127.0.0.1, and the name
``localhost`` that resolves to it, must be refused before any packet is
sent, although a real server would answer. No other name is resolved.
"""

from __future__ import annotations

import dataclasses

import pytest
from sshd import LocalUser, SSHServer
from wbtest import PRINCIPAL, host_key, instance_for

from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import NetworkRefused
from jupyter_workbench.gateway.pool import Login

pytestmark = pytest.mark.asyncio

NO_LOOPBACK = ["127.0.0.0/8", "::1/128", "169.254.0.0/16"]
SPELLINGS = [
    "localhost",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
]


@pytest.mark.parametrize("host", SPELLINGS)
async def test_every_spelling_of_a_denied_address_is_refused(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser, host: str
):
    instance = dataclasses.replace(instance_for(sshd), host=host)
    gateway = make_gateway(instance, deny=NO_LOOPBACK)

    with pytest.raises(NetworkRefused) as caught:
        await gateway.login(
            PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
        )

    assert caught.value.details["rule"] == "deny 127.0.0.0/8"
    assert caught.value.details["address"] == "127.0.0.1"


@pytest.mark.parametrize("host", ["localhost", "2130706433", "::ffff:127.0.0.1"])
async def test_the_same_spellings_connect_when_allowed(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser, host: str
):
    # The control: only the rule stood between these spellings and the sshd.
    instance = dataclasses.replace(instance_for(sshd), host=host)
    gateway = make_gateway(instance)
    gateway.known_hosts(PRINCIPAL).add(host, sshd.port, host_key(sshd))

    login = await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )

    assert isinstance(login, Login)


async def test_a_denied_target_behind_an_allowed_jump_host_is_refused(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    # The bastion is allowed; the target address (as the gateway resolves it)
    # is not, so the tunnel is never asked to reach it.
    gateway = make_gateway(
        instance_for(sshd, name="bastion"),
        dataclasses.replace(
            instance_for(sshd, name="inner", jump="bastion"), host="169.254.169.254"
        ),
    )
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))

    with pytest.raises(NetworkRefused) as caught:
        await gateway.login(
            PRINCIPAL, "inner", Credentials(ssh_user.name, password=ssh_user.password)
        )

    assert caught.value.details["address"] == "169.254.169.254"


async def test_diagnose_names_the_rule_that_matched(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    allowed = make_gateway(instance_for(sshd), allow=[f"127.0.0.0/8 {sshd.port}"])
    diagnosis = (await allowed.diagnose(PRINCIPAL, "real")).to_dict()
    route = next(s for s in diagnosis["steps"] if s["step"] == "route")
    assert route["ok"] and f"allow 127.0.0.0/8 port {sshd.port}" in route["detail"]

    refused = make_gateway(
        dataclasses.replace(instance_for(sshd), host="2130706433"), deny=NO_LOOPBACK
    )
    diagnosis = (await refused.diagnose(PRINCIPAL, "real")).to_dict()
    route = next(s for s in diagnosis["steps"] if s["step"] == "route")
    assert not route["ok"] and "deny 127.0.0.0/8" in route["hint"]
