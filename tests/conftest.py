"""Fixtures shared by the whole suite: real sshd, users, keys and agents.

See tests/README.md for what each fixture provides. The helpers live in
tests/sshd.py; these fixtures only decide scope and teardown.
"""

from __future__ import annotations

import pwd
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from guacd_standin import GuacdStandIn
from sshd import (
    USER_PREFIX,
    LocalUser,
    SetupError,
    SSHAgent,
    SSHServer,
    UserKey,
    hold_closed_port,
    remove_stale_users,
    require_root_tools,
)
from sudoers import sudo_rule

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(scope="session")
def _root_tools() -> None:
    # A missing sshd must fail loudly: a skipped integration suite would
    # look green while testing nothing.
    try:
        require_root_tools()
    except SetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    remove_stale_users()


@pytest.fixture(scope="session")
def sshd(
    _root_tools: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSHServer]:
    """A real OpenSSH sshd on 127.0.0.1, shared by the session.

    Do not change it (host key, stop): use ``sshd_factory`` for that.
    """
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sshd_factory(
    _root_tools: None, tmp_path: Path
) -> Iterator[Callable[[], SSHServer]]:
    """Start private sshd processes for one test; all stop at its end.

    For tests that change a server, e.g. ``restart_with_new_host_key()``,
    or that need several hosts.
    """
    servers: list[SSHServer] = []

    def start() -> SSHServer:
        server = SSHServer(tmp_path / f"sshd-{len(servers)}")
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def ssh_user(_root_tools: None) -> Iterator[LocalUser]:
    """A real local user (``wbt-...``) with a random password."""
    user = LocalUser.create()
    yield user
    user.delete()


@pytest.fixture(scope="session")
def ssh_user_key(
    ssh_user: LocalUser, tmp_path_factory: pytest.TempPathFactory
) -> UserKey:
    """An encrypted Ed25519 key in ``ssh_user``'s authorized_keys."""
    key = UserKey.generate(
        tmp_path_factory.mktemp("keys"), passphrase=UserKey.new_passphrase()
    )
    ssh_user.authorize(key)
    return key


@pytest.fixture(scope="session")
def ssh_agent(
    ssh_user: LocalUser, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSHAgent]:
    """A real ssh-agent holding an unencrypted key authorized for ``ssh_user``.

    Its ``auth_sock`` is what clients take as ``SSH_AUTH_SOCK``; the
    environment of the test process is left alone.
    """
    directory = tmp_path_factory.mktemp("agent")
    key = UserKey.generate(directory)
    ssh_user.authorize(key)
    agent = SSHAgent(directory / "agent.sock", key)
    agent.start()
    yield agent
    agent.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port where a connection is refused.

    The port stays bound (without listening) for the test, so no other
    program can start listening on it meanwhile.
    """
    sock = hold_closed_port()
    yield int(sock.getsockname()[1])
    sock.close()


@pytest.fixture
def guacd() -> Iterator[GuacdStandIn]:
    """A stand-in guacd on 127.0.0.1 (guacd itself is not packaged here)."""
    server = GuacdStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sudo_user(_root_tools: None) -> Iterator[LocalUser]:
    """A real ``wbt-`` user whose sudoers entry asks for its password."""
    user = LocalUser.create()
    with sudo_rule(user):
        yield user
    user.delete()


@pytest.fixture
def new_user_name() -> Iterator[str]:
    """A fresh ``wbt-`` user name; the account is removed if a test leaves it."""
    name = USER_PREFIX + secrets.token_hex(3)
    yield name
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    LocalUser(name, "", Path(entry.pw_dir)).delete()
