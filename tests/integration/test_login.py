"""Logging in to a real OpenSSH sshd: every method, and every way it fails."""

from __future__ import annotations

import asyncio
import socket

import pytest
from sshd import LocalUser, SSHAgent, SSHServer, UserKey
from wbtest import PRINCIPAL, instance_for

from jupyter_workbench.gateway.connect import LoginChallenge
from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import (
    AuthenticationFailed,
    HostKeyChanged,
    HostKeyError,
    HostKeyUnknown,
    NetworkRefused,
    Unreachable,
)
from jupyter_workbench.gateway.gateway import Gateway
from jupyter_workbench.gateway.pool import Login

pytestmark = pytest.mark.asyncio


async def test_password_login_reaches_the_real_user(
    gateway: Gateway, ssh_user: LocalUser
):
    login = await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )

    assert isinstance(login, Login)
    result = await login.connections[0].conn.run("id -un", check=True)
    assert result.stdout.strip() == ssh_user.name
    listed = {i["name"]: i for i in gateway.instances(PRINCIPAL)}
    assert listed["real"]["logged_in"] and listed["real"]["login_user"] == ssh_user.name
    assert login.connections[0].conn.get_extra_info("send_cipher") == (
        "aes128-gcm@openssh.com"
    )


async def test_unknown_host_key_must_be_accepted_first(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    gateway = make_gateway(instance_for(sshd))
    credentials = Credentials(ssh_user.name, password=ssh_user.password)

    with pytest.raises(HostKeyUnknown) as caught:
        await gateway.login(PRINCIPAL, "real", credentials)
    assert caught.value.details["fingerprint"] == sshd.host_key_fingerprint
    assert sshd.host_key_fingerprint in caught.value.message

    with pytest.raises(HostKeyError):
        gateway.accept_host_key(PRINCIPAL, "real", "SHA256:not-the-key-that-was-shown")
    gateway.accept_host_key(PRINCIPAL, "real", sshd.host_key_fingerprint)
    assert isinstance(await gateway.login(PRINCIPAL, "real", credentials), Login)


async def test_host_key_approval_is_per_principal(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    gateway = make_gateway(instance_for(sshd))
    credentials = Credentials(ssh_user.name, password=ssh_user.password)
    with pytest.raises(HostKeyUnknown):
        await gateway.login(PRINCIPAL, "real", credentials)
    gateway.accept_host_key(PRINCIPAL, "real", sshd.host_key_fingerprint)

    with pytest.raises(HostKeyUnknown):
        await gateway.login("bob", "real", credentials)
    with pytest.raises(HostKeyError):
        gateway.accept_host_key("mallory", "real", sshd.host_key_fingerprint)


async def test_changed_host_key_is_refused_naming_both_fingerprints(
    make_gateway, sshd_factory, ssh_user: LocalUser
):
    server = sshd_factory()
    gateway = make_gateway(instance_for(server))
    credentials = Credentials(ssh_user.name, password=ssh_user.password)
    with pytest.raises(HostKeyUnknown):
        await gateway.login(PRINCIPAL, "real", credentials)
    gateway.accept_host_key(PRINCIPAL, "real", server.host_key_fingerprint)
    old = server.host_key_fingerprint

    server.restart_with_new_host_key()
    with pytest.raises(HostKeyChanged) as caught:
        await gateway.login(PRINCIPAL, "real", credentials)

    assert caught.value.details["known_fingerprints"] == [old]
    assert caught.value.details["fingerprint"] == server.host_key_fingerprint
    assert (
        old in caught.value.message
        and server.host_key_fingerprint in caught.value.message
    )
    assert (
        gateway.known_hosts(PRINCIPAL)
        .trusted(server.host, server.port)[0]
        .get_fingerprint("sha256")
        == old
    ), "a changed key must never replace the trusted one silently"

    # The changed key cannot be accepted in place of the trusted one.
    with pytest.raises(HostKeyError):
        gateway.accept_host_key(PRINCIPAL, "real", server.host_key_fingerprint)
    assert len(gateway.known_hosts(PRINCIPAL).trusted(server.host, server.port)) == 1

    # Forgetting the old key (ssh-keygen -R) makes the next login a first contact.
    assert gateway.forget_host_key(PRINCIPAL, "real") == 1
    with pytest.raises(HostKeyUnknown) as again:
        await gateway.login(PRINCIPAL, "real", credentials)
    assert again.value.details["fingerprint"] == server.host_key_fingerprint


async def test_wrong_password_fails_without_echoing_it(
    gateway: Gateway, ssh_user: LocalUser
):
    wrong = "not-" + ssh_user.password

    with pytest.raises(AuthenticationFailed) as caught:
        await gateway.login(
            PRINCIPAL, "real", Credentials(ssh_user.name, password=wrong)
        )

    assert "password" in caught.value.message
    assert wrong not in str(caught.value.to_dict())
    assert gateway.pool.login_for(PRINCIPAL, "real") is None


@pytest.mark.parametrize("source", ["pasted", "file"])
async def test_encrypted_ed25519_key_login(
    gateway: Gateway, ssh_user: LocalUser, ssh_user_key: UserKey, source: str
):
    key = (
        {"private_key": ssh_user_key.private_key}
        if source == "pasted"
        else {"key_path": str(ssh_user_key.path)}
    )
    credentials = Credentials(ssh_user.name, passphrase=ssh_user_key.passphrase, **key)

    login = await gateway.login(PRINCIPAL, "real", credentials)

    assert isinstance(login, Login) and credentials.method == "publickey"
    result = await login.connections[0].conn.run("id -un", check=True)
    assert result.stdout.strip() == ssh_user.name


async def test_wrong_passphrase_says_so(
    gateway: Gateway, ssh_user: LocalUser, ssh_user_key
):
    credentials = Credentials(
        ssh_user.name, private_key=ssh_user_key.private_key, passphrase="wrong"
    )

    with pytest.raises(AuthenticationFailed) as caught:
        await gateway.login(PRINCIPAL, "real", credentials)

    assert "passphrase" in caught.value.message
    assert ssh_user_key.passphrase not in caught.value.message


@pytest.mark.parametrize("alg", ["rsa", "ecdsa"])
async def test_rsa_and_ecdsa_keys_log_in(
    gateway: Gateway, ssh_user: LocalUser, tmp_path, alg
):
    key = UserKey.generate(tmp_path, alg=alg, passphrase=UserKey.new_passphrase())
    ssh_user.authorize(key)

    credentials = Credentials(
        ssh_user.name, private_key=key.private_key, passphrase=key.passphrase
    )
    assert isinstance(await gateway.login(PRINCIPAL, "real", credentials), Login)


async def test_ssh_agent_login(
    gateway: Gateway, ssh_user: LocalUser, ssh_agent: SSHAgent, monkeypatch
):
    monkeypatch.setenv("SSH_AUTH_SOCK", str(ssh_agent.auth_sock))

    login = await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, agent=True)
    )

    assert isinstance(login, Login)
    assert (
        await login.connections[0].conn.run("id -un")
    ).stdout.strip() == ssh_user.name


async def test_keyboard_interactive_prompts_reach_the_user(
    gateway: Gateway, ssh_user: LocalUser
):
    outcome = await gateway.login(PRINCIPAL, "real", Credentials(ssh_user.name))

    assert isinstance(outcome, LoginChallenge)
    assert "password" in outcome.prompts[0][0].lower()
    assert outcome.prompts[0][1] is False, "a password prompt must not echo"
    login = await gateway.respond(PRINCIPAL, outcome.id, [ssh_user.password])
    assert isinstance(login, Login)


async def test_another_principal_cannot_answer_my_prompt(
    gateway: Gateway, ssh_user: LocalUser
):
    outcome = await gateway.login(PRINCIPAL, "real", Credentials(ssh_user.name))
    assert isinstance(outcome, LoginChallenge)

    with pytest.raises(Exception, match="expired"):
        await gateway.respond("mallory", outcome.id, [ssh_user.password])


async def test_refused_port_names_the_port(make_gateway, closed_port: int, ssh_user):
    gateway = make_gateway(Instance_on(closed_port))

    with pytest.raises(Unreachable) as caught:
        await gateway.login(
            PRINCIPAL, "closed", Credentials(ssh_user.name, password="x")
        )

    assert caught.value.details["reason"] == "refused"
    assert str(closed_port) in caught.value.message


async def test_tcp_timeout_names_source_address_and_port(make_gateway, ssh_user):
    # A listener with a full backlog drops further SYNs: a real TCP timeout
    # on loopback, like a firewall that drops packets.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        gateway = make_gateway(Instance_on(port), connect_timeout=1.0)
        with pytest.raises(Unreachable) as caught:
            await gateway.login(
                PRINCIPAL, "closed", Credentials(ssh_user.name, password="x")
            )
    finally:
        filler.close()
        listener.close()

    assert caught.value.details["reason"] == "timeout"
    assert caught.value.details["source"] == "127.0.0.1"
    assert f"allow TCP {port} from 127.0.0.1" in caught.value.message


async def test_host_that_accepts_and_hangs_times_out(make_gateway, ssh_user):
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        gateway = make_gateway(Instance_on(port), handshake_timeout=1.0)
        with pytest.raises(Unreachable) as caught:
            await gateway.login(
                PRINCIPAL, "closed", Credentials(ssh_user.name, password="x")
            )
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()

    assert caught.value.details["reason"] == "timeout"
    assert "handshake" in caught.value.message


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "100.100.100.200", "::ffff:169.254.169.254", "fe80::1"]
)
async def test_metadata_and_link_local_addresses_are_refused(
    make_gateway, host, ssh_user
):
    gateway = make_gateway(Instance_on(22, host=host))

    with pytest.raises(NetworkRefused) as caught:
        await gateway.login(
            PRINCIPAL, "closed", Credentials(ssh_user.name, password="x")
        )

    assert caught.value.details["rule"].startswith("deny")


async def test_name_that_does_not_resolve(make_gateway, ssh_user):
    # An over-long DNS label fails inside the resolver library, so the test
    # sends no query anywhere.
    gateway = make_gateway(Instance_on(22, host="x" * 64 + ".example"))

    with pytest.raises(Unreachable) as caught:
        await gateway.login(
            PRINCIPAL, "closed", Credentials(ssh_user.name, password="x")
        )

    assert caught.value.details["reason"] == "dns"


async def test_allow_list_refuses_what_it_does_not_name(make_gateway, sshd, ssh_user):
    gateway = make_gateway(instance_for(sshd), allow=["10.0.0.0/8"])

    with pytest.raises(NetworkRefused) as caught:
        await gateway.login(PRINCIPAL, "real", Credentials(ssh_user.name, password="x"))

    assert "No network rule allows 127.0.0.1" in caught.value.message


def Instance_on(port: int, host: str = "127.0.0.1"):  # noqa: N802
    from jupyter_workbench.gateway.inventory import Instance

    return Instance(name="closed", host=host, port=port)


async def test_jump_hosts_that_loop_are_refused_before_connecting(
    make_gateway, sshd, ssh_user
):
    from jupyter_workbench.gateway.errors import InventoryError
    from jupyter_workbench.gateway.inventory import Instance

    gateway = make_gateway(
        Instance(name="a", host=sshd.host, port=sshd.port, jump="b"),
        Instance(name="b", host=sshd.host, port=sshd.port, jump="a"),
    )

    with pytest.raises(InventoryError) as caught:
        await gateway.login(
            PRINCIPAL, "a", Credentials(ssh_user.name, password=ssh_user.password)
        )

    assert "a → b → a" in caught.value.message


async def test_diagnose_follows_the_jump_host(make_gateway, sshd, ssh_user):
    from jupyter_workbench.gateway.inventory import Instance

    gateway = make_gateway(
        Instance(name="meta", host="169.254.169.254", port=22),
        instance_for(sshd, name="via-meta", jump="meta"),
        instance_for(sshd, name="bastion"),
        Instance(name="inner", host="127.0.0.2", port=sshd.port, jump="bastion"),
    )

    refused = await gateway.diagnose(PRINCIPAL, "via-meta")
    route = refused.steps[1]
    assert route.ok is False and "jump host meta" in route.detail
    assert [s.ok for s in refused.steps[2:4]] == [None, None], "nothing was connected"

    through = await gateway.diagnose(PRINCIPAL, "inner")
    tcp = through.steps[2]
    assert tcp.ok and tcp.detail.startswith("jump host bastion:")
    assert f"{sshd.port}" in tcp.detail
