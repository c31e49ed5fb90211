"""Policies, audit and the gateway key end to end, against the real OpenSSH sshd.

The gateways here read their policies from a file that the tests rewrite
while logins are in progress, and their audit log is read back after real
operations.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sshd import LocalUser, SSHServer
from wbtest import PRINCIPAL, attach, host_key, instance_for

from jupyter_workbench.gateway.access import AccessConfig
from jupyter_workbench.gateway.connect import LoginChallenge
from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import (
    HostKeyUnknown,
    NotLoggedIn,
    PolicyDenied,
    RemoteNotFound,
)
from jupyter_workbench.gateway.gateway import Gateway
from jupyter_workbench.gateway.pool import Login
from jupyter_workbench.gateway.recording import Recording

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


def events_of(gateway: Gateway, prefix: str) -> list[dict[str, Any]]:
    return [e for e in audit(gateway) if e["event"].startswith(prefix)]


async def test_file_operations_are_audited_with_path_size_and_checksum(
    make_gateway, sshd: SSHServer, sshd_factory, ssh_user: LocalUser, tmp_path: Path
):
    other = sshd_factory()
    gateway = make_gateway(instance_for(sshd), instance_for(other, name="other"))
    credentials = Credentials(ssh_user.name, password=ssh_user.password)
    for server, name in ((sshd, "real"), (other, "other")):
        gateway.known_hosts(PRINCIPAL).add(server.host, server.port, host_key(server))
        await gateway.login(PRINCIPAL, name, credentials)
    folder = f"{ssh_user.home}/audit-{tmp_path.name}".encode()
    files = gateway.files(PRINCIPAL, "real", write=True)
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()

    await files.mkdir(folder)
    await files.write_bytes(folder + b"/a.bin", data)
    got = b"".join(
        [c async for c in files.download(folder + b"/a.bin", size=len(data))]
    )
    part = files.download(folder + b"/a.bin", offset=10, length=5)
    assert b"".join([c async for c in part]) == data[10:15]
    stopped = files.download(folder + b"/a.bin")
    await anext(stopped)
    await stopped.aclose()  # the client went away after the first piece
    archive = b"".join([c async for c in files.archive(folder)])
    await files.chmod(folder + b"/a.bin", 0o600)
    await files.rename(folder + b"/a.bin", folder + "/b ü.bin".encode())
    await files.mkdir(folder + b"/sub")
    await files.write_bytes(folder + b"/sub/c.txt", b"c")
    copied = await files.copy_to(
        folder + "/b ü.bin".encode(),
        gateway.files(PRINCIPAL, "other", write=True),
        folder + b"/copy.bin",
    )
    pending = await files.upload(folder + b"/pending.bin")
    await pending.write(b"x" * 10)
    await pending.close()
    assert await files.discard_upload(folder + b"/pending.bin", pending.id)
    with pytest.raises(RemoteNotFound):
        await files.remove(folder + b"/missing")
    await files.remove(folder, recursive=True)

    assert got == data and copied == len(data)
    kinds = [(e["event"], e["outcome"]) for e in events_of(gateway, "file_")]
    assert kinds == [
        ("file_mkdir", "ok"),
        ("file_upload", "ok"),
        ("file_download", "ok"),
        ("file_download", "ok"),
        ("file_download", "incomplete"),
        ("file_download", "ok"),
        ("file_chmod", "ok"),
        ("file_rename", "ok"),
        ("file_mkdir", "ok"),
        ("file_upload", "ok"),
        ("file_copy", "ok"),
        ("file_upload_cancel", "ok"),
        ("file_delete", "failed"),
        ("file_delete", "ok"),
    ], "a copy and a recursive delete are one record each"
    mkdir, upload, whole, ranged, partial, tar, chmod, rename, *_ = events_of(
        gateway, "file_"
    )
    copy, cancel, missing, delete = events_of(gateway, "file_")[-4:]
    base = folder.decode()
    assert upload["path"] == f"{base}/a.bin"
    assert (upload["size"], upload["sha256"]) == (len(data), digest)
    assert (whole["size"], whole["sha256"]) == (len(data), digest)
    assert (ranged["size"], ranged["sha256"], ranged["range"]) == (5, None, [10, 15])
    assert partial["sha256"] is None and 0 < partial["size"] < len(data)
    assert tar["archive"] == "tar"
    assert tar["sha256"] == hashlib.sha256(archive).hexdigest()
    assert chmod["mode"] == "0600"
    assert (rename["path"], rename["to"]) == (f"{base}/a.bin", f"{base}/b ü.bin")
    assert (copy["instance"], copy["to_instance"], copy["to"]) == (
        "real",
        "other",
        f"{base}/copy.bin",
    )
    assert (copy["size"], copy["files"], copy["sha256"]) == (len(data), 1, digest)
    assert (cancel["upload"], cancel["discarded"]) == (pending.id, True)
    assert missing["error"] == "remote_not_found"
    assert delete["recursive"] is True
    for event in events_of(gateway, "file_"):
        assert event["user"] == PRINCIPAL and event["time"].endswith("Z")
    text = gateway.access.audit.path.read_text()
    assert ssh_user.password not in text


def accepted(server: SSHServer, how: str, user: LocalUser) -> int:
    """Count the logins of *user* that *server* accepted with method *how*.

    A password reaches sshd as ``password`` or through PAM's prompt.
    """
    methods = ["password", "keyboard-interactive/pam"] if how == "password" else [how]
    text = server.log_text()
    return sum(text.count(f"Accepted {m} for {user.name} ") for m in methods)


async def settled(server: SSHServer, how: str, user: LocalUser, expect: int) -> int:
    """Return the count of `accepted` once it reaches *expect* (sshd logs late)."""
    for _ in range(200):
        if accepted(server, how, user) >= expect:
            break
        await asyncio.sleep(0.05)
    return accepted(server, how, user)


async def test_gateway_key_authorizes_and_logs_in_through_a_jump_host(
    make_gateway, sshd_factory, ssh_user: LocalUser
):
    # Private servers: their logs count this test's logins only.
    sshd, inner = sshd_factory(), sshd_factory()
    gateway = make_gateway(
        instance_for(sshd, name="bastion"),
        instance_for(inner, name="inner", jump="bastion"),
        access=AccessConfig(admins={PRINCIPAL}),
    )
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    gateway.create_gateway_key(PRINCIPAL)
    once = Credentials(ssh_user.name, password=ssh_user.password)
    by_key = gateway.gateway_key_credentials(ssh_user.name)
    passwords = accepted(sshd, "password", ssh_user)

    # The instance behind the jump host is new: its key must be confirmed,
    # as after a login, before the public key is installed.
    with pytest.raises(HostKeyUnknown) as caught:
        await gateway.authorize_instance(PRINCIPAL, "inner", once)
    fingerprint = caught.value.details["fingerprint"]
    assert fingerprint == inner.host_key_fingerprint
    assert gateway.accept_host_key(PRINCIPAL, "inner", fingerprint) == "inner"
    result = await gateway.authorize_instance(PRINCIPAL, "inner", once)

    assert result["fingerprint"] == gateway.gateway_key_status()["fingerprint"]
    # The one-time password logged in to the jump host too, and was not kept.
    assert await settled(sshd, "password", ssh_user, passwords + 2) == passwords + 2
    assert gateway.pool.login_for(PRINCIPAL, "bastion") is None
    assert gateway.pool.login_for(PRINCIPAL, "inner") is None
    keys = (Path(ssh_user.home) / ".ssh" / "authorized_keys").read_text()
    assert keys.count("jupyter-workbench-gateway") == 1

    # With a login on the jump host, authorizing again goes through it.
    await gateway.login(PRINCIPAL, "bastion", once)
    passwords = await settled(sshd, "password", ssh_user, passwords + 3)
    inner_passwords = accepted(inner, "password", ssh_user)
    await gateway.authorize_instance(PRINCIPAL, "inner", once)
    await settled(inner, "password", ssh_user, inner_passwords + 1)
    assert accepted(sshd, "password", ssh_user) == passwords
    await gateway.logout(PRINCIPAL, "bastion")

    # A gateway-key login to the inner instance: the key opens the jump
    # host as well (ProxyJump with one identity), and the shell is real.
    keyed = accepted(inner, "publickey", ssh_user)
    login = await gateway.login(PRINCIPAL, "inner", by_key)
    assert isinstance(login, Login)
    run = await login.connections[0].conn.run("echo via-$((6*7))", check=True)
    assert run.stdout.strip() == "via-42"
    assert await settled(inner, "publickey", ssh_user, keyed + 1) == keyed + 1
    authorized = [e for e in audit(gateway) if e["event"] == "gateway_key_authorized"]
    assert [e["instance"] for e in authorized] == ["inner", "inner"]
    assert ssh_user.password not in gateway.access.audit.path.read_text()


def attached(name: str, users: list[str], *statements: dict[str, Any]) -> dict:
    document = {"Version": "1", "Statement": list(statements)}
    return {"name": name, "users": users, "document": document}


def write_attached(path: Path, *policies: dict[str, Any]) -> None:
    path.write_text(json.dumps({"policies": list(policies)}))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


DENY_UNRECORDED = statement(
    "Deny", LOGIN, Condition={"Bool": {"ecs-workbench:SessionRecorded": "false"}}
)


async def test_a_policy_can_require_recording_for_some_users(
    guarded: Gateway, policy_file: Path, sshd: SSHServer, ssh_user: LocalUser
):
    everyone = attached("everyone", ["*"], statement("Allow", "ecs-workbench:*"))
    write_attached(
        policy_file, everyone, attached("record-alice", [PRINCIPAL], DENY_UNRECORDED)
    )
    credentials = Credentials(ssh_user.name, password=ssh_user.password)
    guarded.known_hosts("bob").add(sshd.host, sshd.port, host_key(sshd))
    for who in (PRINCIPAL, "bob"):
        await guarded.login(who, "real", credentials)

    recorded = await guarded.open_terminal(PRINCIPAL, "real")
    plain = await guarded.open_terminal("bob", "real")
    screen = await attach(recorded)
    recorded.write("echo recorded-$((6*7))\n")
    await screen.wait_for("recorded-42")

    assert recorded.recorder is not None and plain.recorder is None
    opened = {e["user"]: e for e in audit(guarded) if e["event"] == "terminal_open"}
    assert opened[PRINCIPAL]["recording"] == recorded.id
    assert opened[PRINCIPAL]["recording_required_by"] == (
        "statement 1 of policy record-alice"
    )
    assert opened["bob"]["recording"] is None
    assert guarded.explain(PRINCIPAL, LOGIN, "real").allowed, "logging in is allowed"

    # Now bob's sessions must be recorded too: his unrecorded terminal can no
    # longer be attached, and his next one is recorded.
    write_attached(
        policy_file, everyone, attached("record-all", ["*"], DENY_UNRECORDED)
    )
    with pytest.raises(PolicyDenied, match="statement 1 of policy record-all"):
        guarded.attach_terminal("bob", plain.id)
    assert guarded.attach_terminal(PRINCIPAL, recorded.id) is recorded
    again = await guarded.open_terminal("bob", "real")
    assert again.recorder is not None

    await recorded.close("done")
    replay = Recording.from_text(recorded.recorder.path.read_text())
    assert "recorded-42" in replay.output
    for session in (plain, again):
        await session.close("done")
