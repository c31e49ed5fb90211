"""Logons and sessions of a Debian 13 instance (wtmpdb), through the real gateway.

The instance is the Debian 13 chroot's own sshd (OpenSSH 10, PAM with
pam_wtmpdb; see tests/trixie.py) on 127.0.0.1 and ::1, logging through
BusyBox syslogd to /var/log/messages, with a /run/utmp. The gateway logs in
as a chroot user of the ``sudo`` group (sudo asks its password); a second
user with a 32-character name logs in over ::1 with a terminal and fails a
password once. Debian 13 has no ``lastb`` and no ``lastlog``: logins come
from wtmpdb, failures from sshd's log lines, last logins of users from
wtmpdb, and ``who`` (which asks logind, absent here) is replaced by BusyBox
``who`` on the utmp sshd wrote.

``dev/test`` makes the chroot once (a debootstrap, see tests/trixie.py);
without it these tests fail with the command that makes it. The parsers
are also tested on samples captured from it, in
tests/gateway/test_system_parsers.py.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator

import asyncssh
import pytest
import pytest_asyncio
import trixie
from sshd import USER_PREFIX
from trixie import ChrootUser, TrixieSSHD
from wbtest import PRINCIPAL

from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.gateway import Gateway
from jupyter_workbench.gateway.inventory import Instance
from jupyter_workbench.gateway.system import LogonFilter, SystemManager

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def debian13() -> Iterator[TrixieSSHD]:
    if not trixie.available():
        pytest.fail(
            f"No Debian 13 chroot at {trixie.ROOT}: run dev/test, or {trixie.BUILD_HINT}"
        )
    server = TrixieSSHD(utmp=True, syslog="/var/log/messages")
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def admin(debian13: TrixieSSHD) -> ChrootUser:
    return debian13.add_user(groups=("sudo",))


@pytest.fixture
def long_user(debian13: TrixieSSHD) -> ChrootUser:
    name = USER_PREFIX + secrets.token_hex(14)  # 32 characters, utmp's limit
    assert len(name) == 32
    return debian13.add_user(name)


@pytest_asyncio.fixture
async def system(
    make_gateway: Callable[..., Gateway], debian13: TrixieSSHD, admin: ChrootUser
) -> SystemManager:
    gateway = make_gateway(
        Instance(name="trixie", host="127.0.0.1", port=debian13.port)
    )
    key = asyncssh.import_public_key(debian13.host_public_key)
    gateway.known_hosts(PRINCIPAL).add("127.0.0.1", debian13.port, key)
    await gateway.login(
        PRINCIPAL, "trixie", Credentials(admin.name, password=admin.password)
    )
    return gateway.system(PRINCIPAL, "trixie")


async def _ssh(
    server: TrixieSSHD, user: str, password: str
) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        "::1",
        server.port,
        username=user,
        password=password,
        known_hosts=None,
        config=None,
        client_keys=None,
        agent_path=None,
        preferred_auth="password",
    )


async def test_detected_as_debian_13_with_wtmpdb_and_without_lastb(
    system: SystemManager,
):
    facts = await system.facts()

    assert (facts.distro, facts.family) == ("debian", "debian")
    assert facts.tools["last"].endswith("/wtmpdb")
    assert not facts.has("lastb") and not facts.has("lastlog")


async def test_logons_sessions_and_last_login_from_real_logins_over_ipv6(
    system: SystemManager, debian13: TrixieSSHD, long_user: ChrootUser
):
    name = long_user.name
    with pytest.raises(asyncssh.PermissionDenied):
        await _ssh(debian13, name, "wrong-" + long_user.password)
    async with await _ssh(debian13, name, long_user.password) as conn:
        process = await conn.create_process("sleep 60", term_type="xterm")
        try:
            # sshd writes the wtmpdb and utmp records once the terminal is
            # set up, after the client already holds its channel.
            for _ in range(100):
                records = await system.logons(LogonFilter(user=name))
                if any(r.still_logged_in for r in records):
                    break
                await asyncio.sleep(0.1)
            sessions = await system.sessions()
        finally:
            process.kill()
            process.close()

    logins = [r for r in records if r.kind == "login"]
    failures = [r for r in records if r.kind == "failed"]
    assert [(r.user, r.source, r.origin) for r in logins] == [(name, "::1", "wtmpdb")]
    assert logins[0].still_logged_in and logins[0].terminal.startswith("pts/")
    assert logins[0].start.tzinfo is not None
    assert [(r.user, r.source, r.origin) for r in failures] == [
        (name, "::1", "auth-log")
    ]
    mine = [s for s in sessions if s.user == name]
    assert [(s.source, s.origin) for s in mine] == [("::1", "utmp")]

    for _ in range(100):
        ended = [
            r
            for r in await system.logons(LogonFilter(user=name, failed=False))
            if r.ended == "logout"
        ]
        if ended:
            break
        await asyncio.sleep(0.1)
    assert ended and ended[0].end is not None and ended[0].end >= ended[0].start
    assert name not in {s.user for s in await system.sessions()}

    users = {u.name: u for u in await system.users()}
    assert users[name].last_login_from == "::1"
    assert users[name].last_login == logins[0].start
    assert users[name].sudo is False
