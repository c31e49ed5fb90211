"""The guacd client and RDP sessions, against the STAND-IN guacd.

guacd is not packaged for this Debian; `tests/guacd_standin.py` is a
stand-in written from the published protocol description (it speaks the
guacd side of the handshake and sends a display, but there is no RDP
server behind it).
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from guacd_standin import NAME, RDP_ARGS, VERSION, GuacdStandIn

from jupyter_workbench.gateway.errors import NetworkRefused
from jupyter_workbench.gateway.guacamole import (
    Display,
    GuacdConnection,
    GuacdError,
    GuacdUnreachable,
)
from jupyter_workbench.gateway.inventory import Instance, Inventory
from jupyter_workbench.gateway.network import NetworkRules
from jupyter_workbench.gateway.rdp import (
    RDPConfig,
    RDPNotSupported,
    RDPService,
    RDPSessionNotFound,
)

pytestmark = pytest.mark.asyncio

PASSWORD = "pä55 wörd ✓"


def service(guacd: GuacdStandIn, **rules: list[str]) -> RDPService:
    inventory = Inventory(
        [
            Instance(name="win-1", host="127.0.0.1", port=3389, protocol="rdp"),
            Instance(name="web-1", host="127.0.0.1", port=22),
            Instance(
                name="win-far", host="127.0.0.1", port=3389, protocol="rdp", jump="b"
            ),
        ]
    )
    return RDPService(
        inventory,
        NetworkRules(**rules) if rules else NetworkRules(),
        RDPConfig(guacd_host=guacd.host, guacd_port=guacd.port),
    )


@pytest_asyncio.fixture
async def opened(guacd):
    rdp = service(guacd)
    request = await rdp.create(
        "alice",
        "win-1",
        username="Administrator",
        password=PASSWORD,
        domain="CORP",
        display=Display(width=800, height=600, dpi=120, timezone="Europe/Paris"),
    )
    connection = await rdp.open(rdp.claim("alice", request.id))
    yield connection
    connection.close()
    await connection.wait_closed()


async def test_handshake_sends_values_in_args_order(guacd, opened):
    standin = guacd.wait_connected()
    opcodes = [i[0] for i in standin.handshake]

    assert opcodes == [
        "select",
        "size",
        "audio",
        "video",
        "image",
        "timezone",
        "connect",
    ]
    assert standin.handshake[0] == ("select", "rdp")
    assert standin.handshake[1] == ("size", "800", "600", "120")
    assert standin.handshake[5] == ("timezone", "Europe/Paris")
    connect = standin.handshake[-1]
    assert connect[1] == "VERSION_1_5_0" and len(connect) == 2 + len(RDP_ARGS)
    assert standin.parameters == {
        "hostname": "127.0.0.1",
        "port": "3389",
        "domain": "CORP",
        "username": "Administrator",
        "password": PASSWORD,
        "width": "800",
        "height": "600",
        "dpi": "120",
        "security": "any",
        "ignore-cert": "true",
        "resize-method": "display-update",
        "client-name": "jupyter-workbench",
    }
    assert opened.protocol_version == VERSION
    assert opened.connection_id == "$stand-in-1"


async def test_display_arrives_whole_from_split_writes(guacd, opened):
    seen = []
    while not seen or seen[-1][0] != "sync":
        instruction = await asyncio.wait_for(opened.read(), 10)
        assert instruction is not None
        seen.append(instruction)

    assert ("name", NAME) in seen
    assert ("size", "0", "800", "600") in seen
    img = next(i for i in seen if i[0] == "img")
    assert img[3:] == ("0", "image/png", "0", "0")
    blobs = "".join(i[2] for i in seen if i[0] == "blob" and i[1] == img[1])
    assert blobs.startswith("iVBORw0KGgo")  # base64 of the PNG signature
    assert ("end", img[1]) in seen


async def test_instructions_reach_guacd(guacd, opened):
    await opened.send_many([("key", "65307", "1"), ("mouse", "10", "20", "1")])

    assert guacd.wait_for(lambda i: i[0] == "key") == ("key", "65307", "1")
    assert guacd.wait_for(lambda i: i[0] == "mouse") == ("mouse", "10", "20", "1")


async def test_refused_credentials_are_explained(guacd):
    guacd.password = "the right one"
    rdp = service(guacd)
    request = await rdp.create("alice", "win-1", username="a", password="wrong")

    with pytest.raises(GuacdError) as caught:
        await rdp.open(rdp.claim("alice", request.id))

    assert caught.value.details["status"] == 0x0301
    assert "refused the user name or password" in caught.value.message
    assert "wrong" not in caught.value.message


async def test_guacd_error_during_handshake_is_explained(guacd):
    guacd.fail = ("Unable to connect to RDP server", 0x0207)
    rdp = service(guacd)
    request = await rdp.create("alice", "win-1", username="a", password="b")

    with pytest.raises(GuacdError, match="cannot reach the remote desktop server"):
        await rdp.open(rdp.claim("alice", request.id))


async def test_refused_guacd_says_where_it_was_looked_for(closed_port):
    with pytest.raises(GuacdUnreachable) as caught:
        await GuacdConnection.open("127.0.0.1", closed_port, rules=NetworkRules())

    assert caught.value.details["reason"] == "refused"
    assert f"127.0.0.1:{closed_port}" in caught.value.message
    assert "guacd_host" in caught.value.message


async def test_sessions_are_single_use_and_per_principal(guacd):
    rdp = service(guacd)
    request = await rdp.create("alice", "win-1", username="a", password="secret")

    assert "secret" not in repr(request) and "secret" not in str(request.to_dict())
    with pytest.raises(RDPSessionNotFound):
        rdp.claim("mallory", request.id)
    assert rdp.claim("alice", request.id) is request
    with pytest.raises(RDPSessionNotFound, match="used already or has expired"):
        rdp.claim("alice", request.id)


async def test_only_direct_rdp_instances_open_as_desktops(guacd):
    rdp = service(guacd)

    with pytest.raises(RDPNotSupported, match="SSH instance"):
        await rdp.create("alice", "web-1", username="a", password="b")
    with pytest.raises(RDPNotSupported, match="jump host"):
        await rdp.create("alice", "win-far", username="a", password="b")


async def test_network_rules_apply_to_the_instance(guacd):
    rdp = service(guacd, allow=["10.0.0.0/8"])

    with pytest.raises(NetworkRefused, match="127.0.0.1 port 3389"):
        await rdp.create("alice", "win-1", username="a", password="b")


async def test_network_rules_apply_to_guacd(guacd):
    rdp = service(guacd, allow=["0.0.0.0/0 3389"])
    request = await rdp.create("alice", "win-1", username="a", password="b")

    with pytest.raises(NetworkRefused, match=f"port {guacd.port}"):
        await rdp.open(rdp.claim("alice", request.id))


async def test_policy_hook_can_refuse(guacd):
    calls = []

    def authorize(principal, action, instance):
        calls.append((principal, action, instance.name))
        raise NetworkRefused("refused by the test hook")

    rdp = service(guacd)
    rdp.authorize = authorize

    with pytest.raises(NetworkRefused, match="test hook"):
        await rdp.create("alice", "win-1", username="a", password="b")
    assert calls == [("alice", "ecs-workbench:ConnectRDP", "win-1")]
