"""Prove that the sshd fixtures are real: real sshd, real user, real PAM."""

from __future__ import annotations

import asyncio
import pwd
import subprocess
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import sshd as sshd_module
from sshd import LocalUser, SetupError, SSHAgent, SSHServer, UserKey

pytestmark = pytest.mark.sshd


def connect(
    server: SSHServer, user: LocalUser, **options: Any
) -> AbstractAsyncContextManager[asyncssh.SSHClientConnection]:
    """Open a client connection that trusts only ``server``'s host key.

    The client's own ~/.ssh/config, keys and agent are switched off so that
    a test proves exactly the method it names.
    """
    defaults: dict[str, Any] = {
        "username": user.name,
        "known_hosts": asyncssh.import_known_hosts(server.known_hosts_line()),
        "config": [],
        "agent_path": None,
        "client_keys": None,
        "password": None,
        "kbdint_auth": False,
    }
    return asyncssh.connect(server.host, server.port, **{**defaults, **options})


class PromptRecorder(asyncssh.SSHClient):
    """A client that answers keyboard-interactive prompts and records them."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def kbdint_auth_requested(self) -> str:
        return ""

    def kbdint_challenge_received(
        self,
        name: str,
        instructions: str,
        lang: str,
        prompts: Sequence[tuple[str, bool]],
    ) -> list[str]:
        self.prompts.extend(prompt for prompt, _echo in prompts)
        return [self.answer for _ in prompts]


async def test_server_presents_the_host_key_it_reports(sshd: SSHServer) -> None:
    key = await asyncssh.get_server_host_key(sshd.host, sshd.port, config=[])

    assert key is not None
    assert key.get_fingerprint("sha256") == sshd.host_key_fingerprint
    assert sshd.host_key_fingerprint.startswith("SHA256:")


async def test_password_login_runs_commands_as_the_user(
    sshd: SSHServer, ssh_user: LocalUser
) -> None:
    async with connect(sshd, ssh_user, password=ssh_user.password) as conn:
        result = await conn.run("id -un; echo $HOME; echo $SHELL", check=True)

    assert result.stdout == f"{ssh_user.name}\n{ssh_user.home}\n/bin/bash\n"
    sshd.wait_for_log(rf"Accepted password for {ssh_user.name} from 127\.0\.0\.1")


async def test_wrong_password_is_refused(sshd: SSHServer, ssh_user: LocalUser) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sshd, ssh_user, password=ssh_user.password + "x"):
            pass

    sshd.wait_for_log(rf"Failed password for {ssh_user.name} from 127\.0\.0\.1")


async def test_keyboard_interactive_prompts_come_from_pam(
    sshd: SSHServer, ssh_user: LocalUser
) -> None:
    client = PromptRecorder(ssh_user.password)

    async with connect(
        sshd,
        ssh_user,
        kbdint_auth=True,
        preferred_auth="keyboard-interactive",
        client_factory=lambda: client,
    ) as conn:
        result = await conn.run("id -un", check=True)

    assert result.stdout == f"{ssh_user.name}\n"
    assert client.prompts == ["Password: "]
    sshd.wait_for_log(rf"Accepted keyboard-interactive/pam for {ssh_user.name}")


def test_encrypted_key_needs_its_passphrase(ssh_user_key: UserKey) -> None:
    def public_half(passphrase: str) -> subprocess.CompletedProcess[str]:
        argv = ["ssh-keygen", "-y", "-P", passphrase, "-f", str(ssh_user_key.path)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    assert ssh_user_key.passphrase
    assert public_half("").returncode != 0
    unlocked = public_half(ssh_user_key.passphrase)
    assert unlocked.stdout.split()[:2] == ssh_user_key.public_key.split()[:2]
    assert ssh_user_key.public_key.startswith("ssh-ed25519 ")
    assert ssh_user_key.path.stat().st_mode & 0o777 == 0o600


async def test_encrypted_key_logs_in_with_asyncssh(
    sshd: SSHServer, ssh_user: LocalUser, ssh_user_key: UserKey
) -> None:
    try:
        key = asyncssh.import_private_key(
            ssh_user_key.private_key, ssh_user_key.passphrase
        )
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        # asyncssh needs the optional bcrypt package for encrypted OpenSSH
        # keys; the gateway has the same need, so this is a real failure.
        pytest.fail(
            f"asyncssh cannot read an encrypted OpenSSH key ({exc}): "
            "the package must depend on asyncssh[bcrypt]"
        )

    async with connect(sshd, ssh_user, client_keys=[key]) as conn:
        result = await conn.run("id -un", check=True)

    assert result.stdout == f"{ssh_user.name}\n"
    sshd.wait_for_log(rf"Accepted publickey for {ssh_user.name} .*ED25519")


def test_openssh_client_logs_in_with_the_key_file(
    sshd: SSHServer, ssh_user: LocalUser, ssh_user_key: UserKey, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line())
    # ssh asks for the passphrase through SSH_ASKPASS when forced to, which
    # keeps the secret out of argv and needs no terminal.
    askpass = tmp_path / "askpass"
    askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$WBT_PASSPHRASE"\n')
    askpass.chmod(0o700)
    env = {
        "PATH": "/usr/bin:/bin",
        "SSH_ASKPASS": str(askpass),
        "SSH_ASKPASS_REQUIRE": "force",
        "DISPLAY": "none",
        "WBT_PASSPHRASE": ssh_user_key.passphrase or "",
    }

    result = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-p",
            str(sshd.port),
            "-i",
            str(ssh_user_key.path),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            f"{ssh_user.name}@{sshd.host}",
            "id -un",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ssh_user.name}\n"


async def test_agent_key_logs_in(
    sshd: SSHServer, ssh_user: LocalUser, ssh_agent: SSHAgent
) -> None:
    authorized = asyncssh.import_public_key(ssh_agent.key.public_key)

    async with asyncssh.connect_agent(str(ssh_agent.auth_sock)) as agent:
        keys = await agent.get_keys()
        assert [k.public_data for k in keys] == [authorized.public_data]
        # The agent signs; the private key never enters this process.
        async with connect(sshd, ssh_user, client_keys=keys) as conn:
            result = await conn.run("id -un", check=True)

    assert result.stdout == f"{ssh_user.name}\n"


async def test_root_is_not_let_in(sshd: SSHServer) -> None:
    root = LocalUser("root", "", Path("/root"))

    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sshd, root, password="anything"):
            pass


async def test_closed_port_refuses_connections(closed_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", closed_port)


async def test_new_host_key_keeps_the_port_and_is_refused(
    sshd_factory: Callable[[], SSHServer], ssh_user: LocalUser
) -> None:
    server = sshd_factory()
    trusted = server.known_hosts_line()
    old_port, old_fingerprint = server.port, server.host_key_fingerprint

    server.restart_with_new_host_key()

    assert server.port == old_port
    assert server.host_key_fingerprint != old_fingerprint
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with connect(
            server,
            ssh_user,
            password=ssh_user.password,
            known_hosts=asyncssh.import_known_hosts(trusted),
        ):
            pass


async def test_factory_servers_are_separate_hosts(
    sshd_factory: Callable[[], SSHServer], sshd: SSHServer
) -> None:
    first, second = sshd_factory(), sshd_factory()

    ports = {sshd.port, first.port, second.port}
    fingerprints = {s.host_key_fingerprint for s in (sshd, first, second)}
    assert len(ports) == 3
    assert len(fingerprints) == 3


def test_missing_sshd_names_the_setup_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sshd_module, "SSHD", "/nonexistent/sshd")

    with pytest.raises(SetupError, match="run dev/test"):
        sshd_module.require_root_tools()


def test_users_of_finished_runs_are_removed(_root_tools: None) -> None:
    user = LocalUser.create()
    finished = subprocess.Popen(["true"])
    finished.wait()
    comment = f"{sshd_module.USER_COMMENT}{finished.pid}"
    subprocess.run(["usermod", "-c", comment, user.name], check=True)

    removed = sshd_module.remove_stale_users()

    assert user.name in removed
    assert not user.home.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(user.name)
