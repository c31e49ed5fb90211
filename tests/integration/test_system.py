"""System management on this machine through the real sshd: users, logons, services.

The test sshd only lets ``wbt-*`` users in and refuses root, so a test user
gets sudo rights from a file in /etc/sudoers.d that the fixture writes
(mode 0440, checked with ``visudo -cf``) and removes. Users the tests create
are ``wbt-...`` with the test-run comment, so a killed run's leftovers are
removed by the next one. The SysV service is a tiny init script of the
test's own in /etc/init.d whose daemon only sleeps; the system's own
services are listed (their ``status``) but never started or stopped.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncssh
import pytest
import pytest_asyncio
from sshd import USER_COMMENT, USER_PREFIX, LocalUser, SSHServer, UserKey
from wbtest import PRINCIPAL, host_key, instance_for

from jupyter_workbench.gateway.access import AccessConfig
from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import (
    AuthenticationFailed,
    PolicyDenied,
    Unreachable,
)
from jupyter_workbench.gateway.gateway import Gateway
from jupyter_workbench.gateway.policy import parse_policies
from jupyter_workbench.gateway.system import (
    LogonFilter,
    SudoDenied,
    SudoRequired,
    SystemInputError,
    SystemManager,
)

pytestmark = pytest.mark.asyncio

INIT_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: jupyter-workbench test daemon that only sleeps
### END INIT INFO
PIDFILE=/run/{name}.pid
running() {{ [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null; }}
case "$1" in
  start) running && exit 0
         setsid sleep 86400 </dev/null >/dev/null 2>&1 &
         echo $! > $PIDFILE ;;
  stop) running && kill "$(cat $PIDFILE)"; rm -f $PIDFILE ;;
  restart|reload|force-reload) "$0" stop; "$0" start ;;
  status) if running; then echo "{name} is running"; exit 0; fi
          echo "{name} is not running"; exit 3 ;;
  *) echo "Usage: $0 {{start|stop|restart|status}}" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def made_users() -> Iterator[list[str]]:
    """Names of users a test makes through the gateway; removed if left behind."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        LocalUser(name, "", Path(entry.pw_dir)).delete()


@pytest_asyncio.fixture
async def system(gateway: Gateway, sudo_user: LocalUser) -> SystemManager:
    """The gateway's system management of ``real``, logged in as the sudo user."""
    await gateway.login(
        PRINCIPAL, "real", Credentials(sudo_user.name, password=sudo_user.password)
    )
    return gateway.system(PRINCIPAL, "real")


@pytest.fixture
def sleeper() -> Iterator[str]:
    """An LSB init script in /etc/init.d whose daemon sleeps; removed afterwards."""
    name = f"{USER_PREFIX}sleeper-{secrets.token_hex(3)}"
    script = Path("/etc/init.d") / name
    script.write_text(INIT_SCRIPT.format(name=name))
    script.chmod(0o755)
    yield name
    subprocess.run([str(script), "stop"], check=False, capture_output=True)
    subprocess.run(
        ["update-rc.d", "-f", name, "remove"], check=False, capture_output=True
    )
    script.unlink(missing_ok=True)


def new_user_name() -> str:
    return USER_PREFIX + secrets.token_hex(3)


async def try_login(gateway: Gateway, name: str, credentials: Credentials) -> bool:
    try:
        await gateway.login("bob", "real", credentials)
    except (AuthenticationFailed, Unreachable):
        # An expired account passes the key check, then PAM's account check
        # fails and sshd drops the connection: the gateway sees it closed.
        return False
    await gateway.logout("bob", "real")
    return True


async def test_instance_is_detected_as_debian_with_sudo_by_password(
    system: SystemManager, sudo_user: LocalUser
):
    facts = await system.facts()

    assert facts.family == "debian"
    assert facts.login_user == sudo_user.name
    assert facts.privilege == "sudo-password"
    assert facts.init == "sysv"  # no systemd runs in this container
    assert {"useradd", "last", "lastb", "getent"} <= set(facts.tools)
    assert not facts.busybox


async def test_user_lifecycle_on_the_real_machine(
    gateway: Gateway,
    system: SystemManager,
    sshd: SSHServer,
    made_users: list[str],
    tmp_path: Path,
):
    name = new_user_name()
    made_users.append(name)
    key = UserKey.generate(tmp_path)
    gateway.known_hosts("bob").add(*_where(gateway), host_key_of(gateway))
    by_key = Credentials(name, private_key=key.private_key)

    created = await system.create_user(
        name,
        shell="/bin/sh",
        comment=f"{USER_COMMENT}{os.getpid()}",
        authorized_key=key.public_key,
    )
    assert (created.name, created.shell, created.home) == (
        name,
        "/bin/sh",
        f"/home/{name}",
    )
    assert created.has_password is False and created.locked is False
    assert created.sudo is False
    assert pwd.getpwnam(name).pw_shell == "/bin/sh"
    assert await try_login(gateway, name, by_key)

    locked = await system.lock_user(name)
    assert locked.locked is True
    assert not await try_login(gateway, name, by_key)
    await sshd.await_log(rf"Access denied for user {name} by PAM account")

    unlocked = await system.unlock_user(name)
    assert unlocked.locked is False
    assert await try_login(gateway, name, by_key)

    password = secrets.token_urlsafe(12)
    await system.set_password(name, password)
    listed = {u.name: u for u in await system.users()}
    assert listed[name].has_password is True
    assert await try_login(gateway, name, Credentials(name, password=password))

    granted = await system.set_sudo(name, grant=True)
    assert granted.sudo is True and "sudo" in granted.groups
    revoked = await system.set_sudo(name, grant=False)
    assert revoked.sudo is False and "sudo" not in revoked.groups

    await system.delete_user(name, remove_home=True)
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    assert not home_of(name).exists()


async def test_deleting_keeps_the_home_unless_asked(
    system: SystemManager, made_users: list[str]
):
    name = new_user_name()
    made_users.append(name)
    await system.create_user(name, comment=f"{USER_COMMENT}{os.getpid()}")

    await system.delete_user(name)

    assert name not in {u.name for u in await system.users()}
    assert home_of(name).is_dir()
    shutil.rmtree(home_of(name))


async def test_users_list_real_accounts_with_sudo_rights(
    system: SystemManager, sudo_user: LocalUser
):
    users = {u.name: u for u in await system.users()}

    assert users["root"].uid == 0 and users["root"].sudo is True
    me = users[sudo_user.name]
    assert me.sudo is True  # from the sudoers.d rule, not a group
    assert me.has_password is True and me.locked is False
    assert me.home == str(sudo_user.home) and me.shell == "/bin/bash"
    assert users["nobody"].system


async def test_bad_names_are_refused_before_anything_runs(
    system: SystemManager, made_users: list[str]
):
    for bad in ("-rf", "a b", "x;id", "", "a" * 40, "../etc"):
        with pytest.raises(SystemInputError):
            await system.create_user(bad)
    with pytest.raises(SystemInputError, match="shell"):
        await system.create_user(new_user_name(), shell="bash; id")
    with pytest.raises(SystemInputError, match="authorized key"):
        await system.create_user(new_user_name(), authorized_key="ssh-ed25519 AAAA\nx")
    with pytest.raises(SystemInputError, match="root"):
        await system.delete_user("root")


async def test_wrong_or_missing_sudo_password_is_a_clear_error(
    gateway: Gateway, sudo_user: LocalUser, tmp_path: Path
):
    await gateway.login(
        PRINCIPAL, "real", Credentials(sudo_user.name, password=sudo_user.password)
    )
    wrong = gateway.system(PRINCIPAL, "real", sudo_password="not-the-password")
    with pytest.raises(SudoDenied, match="password"):
        await wrong.lock_user(sudo_user.name)

    key = UserKey.generate(tmp_path)
    sudo_user.authorize(key)
    await gateway.login(
        PRINCIPAL, "real", Credentials(sudo_user.name, private_key=key.private_key)
    )
    by_key = gateway.system(PRINCIPAL, "real")
    with pytest.raises(SudoRequired, match="sudo password"):
        await by_key.lock_user(sudo_user.name)
    # Reading still works, with what needs root left unknown.
    users = {u.name: u for u in await by_key.users()}
    assert users[sudo_user.name].locked is None
    assert users["root"].uid == 0

    gateway.set_sudo_password(PRINCIPAL, "real", sudo_user.password)
    users = {u.name: u for u in await gateway.system(PRINCIPAL, "real").users()}
    assert users[sudo_user.name].locked is False

    # Logging out forgets the held sudo password.
    await gateway.logout(PRINCIPAL, "real")
    await gateway.login(
        PRINCIPAL, "real", Credentials(sudo_user.name, private_key=key.private_key)
    )
    with pytest.raises(SudoRequired):
        await gateway.system(PRINCIPAL, "real").lock_user(sudo_user.name)


async def test_user_without_sudo_rights_is_told_so(
    gateway: Gateway, ssh_user: LocalUser
):
    await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )
    system = gateway.system(PRINCIPAL, "real")

    with pytest.raises(SudoDenied, match="no sudo rights"):
        await system.create_user(new_user_name())


async def test_logons_show_real_ssh_logins_and_failures(
    gateway: Gateway,
    system: SystemManager,
    sshd: SSHServer,
    made_users: list[str],
):
    name = new_user_name()
    made_users.append(name)
    password = secrets.token_urlsafe(12)
    await system.create_user(
        name, comment=f"{USER_COMMENT}{os.getpid()}", password=password
    )

    with pytest.raises(asyncssh.PermissionDenied):
        await _ssh(sshd, name, "wrong-" + password)
    async with await _ssh(sshd, name, password) as conn:
        process = await conn.create_process("sleep 30", term_type="xterm")
        # sshd writes the wtmp record when it has allocated the terminal
        await asyncio.sleep(0.5)
        records = await system.logons(LogonFilter(user=name))
        process.kill()
        process.close()

    logins = [r for r in records if r.kind == "login"]
    failures = [r for r in records if r.kind == "failed"]
    assert logins and failures, records
    assert logins[0].source == "127.0.0.1" and logins[0].terminal.startswith("pts/")
    assert logins[0].origin == "wtmp" and logins[0].start.tzinfo is not None
    assert failures[0].source == "127.0.0.1" and failures[0].user == name
    assert {r.user for r in records} == {name}

    elsewhere = await system.logons(LogonFilter(user=name, source="10.0.0.0/8"))
    assert elsewhere == []
    loopback = await system.logons(
        LogonFilter(user=name, source="127.0.0.0/8", failed=False)
    )
    assert loopback and all(r.kind == "login" for r in loopback)
    later = await system.logons(
        LogonFilter(
            user=name, since=max(r.start for r in records) + timedelta(seconds=1)
        )
    )
    assert later == []


@pytest.fixture
def utmp() -> Iterator[Path]:
    """``/run/utmp`` as systemd-tmpfiles makes it (root:utmp, 0664).

    The test machine (a container) has none, so ``who`` prints nothing;
    sshd records sessions there as soon as the file exists. A file made
    here is removed afterwards; an existing one is left alone.
    """
    path = Path("/run/utmp")
    made = not path.exists()
    if made:
        path.touch(mode=0o664)
        os.chown(path, 0, grp.getgrnam("utmp").gr_gid)
        path.chmod(0o664)
    yield path
    if made:
        path.unlink(missing_ok=True)


@pytest.fixture
def no_utmp() -> Iterator[None]:
    """No ``/run/utmp`` while the test runs; one that was there is put back."""
    path = Path("/run/utmp")
    aside = path.with_name(f"utmp.wbt-{os.getpid()}")
    moved = path.exists()
    if moved:
        path.rename(aside)
    yield
    if moved:
        aside.rename(path)


async def _sessions_of(system: SystemManager, name: str, *, present: bool) -> list:
    # sshd writes the record once the terminal is set up, after the client
    # already holds its channel; and clears it after the channel closed.
    for _ in range(100):
        mine = [s for s in await system.sessions() if s.user == name]
        if bool(mine) == present:
            return mine
        await asyncio.sleep(0.1)
    return mine


async def _sessions_during_a_login(
    system: SystemManager, sshd: SSHServer, made_users: list[str]
) -> tuple[str, list]:
    """A new user logs in with a terminal: the sessions listed meanwhile."""
    name = new_user_name()
    made_users.append(name)
    password = secrets.token_urlsafe(12)
    await system.create_user(
        name, comment=f"{USER_COMMENT}{os.getpid()}", password=password
    )
    async with await _ssh(sshd, name, password) as conn:
        process = await conn.create_process("sleep 30", term_type="xterm")
        mine = await _sessions_of(system, name, present=True)
        process.kill()
        process.close()
    return name, mine


async def test_who_is_logged_in_now_is_read_from_the_utmp_sshd_writes(
    system: SystemManager, sshd: SSHServer, made_users: list[str], utmp: Path
):
    name, mine = await _sessions_during_a_login(system, sshd, made_users)
    assert [(s.source, s.origin) for s in mine] == [("127.0.0.1", "utmp")]
    assert mine[0].terminal.startswith("pts/") and mine[0].since is not None
    assert await _sessions_of(system, name, present=False) == []


async def test_without_utmp_logins_without_an_end_are_the_sessions(
    system: SystemManager, sshd: SSHServer, made_users: list[str], no_utmp: None
):
    name, mine = await _sessions_during_a_login(system, sshd, made_users)
    assert [(s.source, s.origin) for s in mine] == [("127.0.0.1", "wtmp")]
    assert mine[0].since is not None and mine[0].since.tzinfo is not None
    assert await _sessions_of(system, name, present=False) == []


async def test_sysv_service_is_listed_stopped_and_started(
    system: SystemManager, sleeper: str
):
    listed = {s.name: s for s in await system.services()}
    assert listed[sleeper].active == "inactive" and listed[sleeper].manager == "sysv"
    assert listed[sleeper].enabled == "disabled"
    assert "ssh" in listed  # the system's own, listed but left alone

    started = await system.service_action(sleeper, "start")
    assert started.active == "active"
    status = await system.service_status(sleeper)
    assert f"{sleeper} is running" in status.status_text
    pid = pid_of(sleeper)
    assert running(pid)

    enabled = await system.service_action(sleeper, "enable")
    assert enabled.enabled == "enabled"
    assert any(link.startswith("S") for link in rc_links(sleeper, 2))
    disabled = await system.service_action(sleeper, "disable")
    assert disabled.enabled == "disabled"

    stopped = await system.service_action(sleeper, "stop")
    assert stopped.active == "inactive"
    assert not running(pid)
    with pytest.raises(SystemInputError):
        await system.service_action("no-such-service-here", "start")
    with pytest.raises(SystemInputError):
        await system.service_action(sleeper, "explode")


async def test_changes_are_audited_without_secrets(
    gateway: Gateway, system: SystemManager, made_users: list[str]
):
    name = new_user_name()
    made_users.append(name)
    secret = secrets.token_urlsafe(12)
    await system.create_user(
        name, comment=f"{USER_COMMENT}{os.getpid()}", password=secret
    )
    await system.delete_user(name, remove_home=True)

    events = [e for e in gateway.access.audit.events() if e["event"] == "system_change"]
    assert [e["action"] for e in events][-2:] == ["user_create", "user_delete"]
    assert events[-2]["user"] == name and events[-2]["outcome"] == "ok"
    audit_text = (
        gateway.access.audit.path.read_text() if gateway.access.audit.path else ""
    )
    assert secret not in audit_text


def home_of(name: str) -> Path:
    return Path("/home") / name


def pid_of(service: str) -> int:
    return int(Path(f"/run/{service}.pid").read_text())


def rc_links(service: str, level: int) -> list[str]:
    return [p.name for p in Path(f"/etc/rc{level}.d").glob(f"*{service}")]


def running(pid: int) -> bool:
    """Whether *pid* runs; a zombie does not (this container's PID 1 may not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _where(gateway: Gateway) -> tuple[str, int]:
    instance = gateway.inventory.get("real")
    return instance.host, instance.port


def host_key_of(gateway: Gateway) -> asyncssh.SSHKey:
    host, port = _where(gateway)
    return gateway.known_hosts(PRINCIPAL).trusted(host, port)[0]


async def _ssh(
    server: SSHServer, user: str, password: str
) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        server.host,
        server.port,
        username=user,
        password=password,
        known_hosts=None,
        config=None,
        client_keys=None,
        agent_path=None,
        preferred_auth="password",
    )


async def test_policies_deny_changes_but_allow_reading(
    make_gateway, sshd: SSHServer, sudo_user: LocalUser
):
    deny_changes = parse_policies(
        [
            {
                "name": "read-only",
                "users": [PRINCIPAL],
                "document": {
                    "Version": "1",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "ecs-workbench:*",
                            "Resource": "*",
                        },
                        {
                            "Effect": "Deny",
                            "Action": "ecs-workbench:ManageSystem",
                            "Resource": "*",
                        },
                    ],
                },
            }
        ],
        where="test",
    )
    gateway = make_gateway(
        instance_for(sshd), access=AccessConfig(policies=deny_changes)
    )
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    await gateway.login(
        PRINCIPAL, "real", Credentials(sudo_user.name, password=sudo_user.password)
    )
    system = gateway.system(PRINCIPAL, "real")

    assert sudo_user.name in {u.name for u in await system.users()}
    name = new_user_name()
    with pytest.raises(PolicyDenied, match="ManageSystem"):
        await system.create_user(name)
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    denied = [e for e in gateway.access.audit.events() if e["event"] == "denied"]
    assert denied[-1]["action"] == "ecs-workbench:ManageSystem"
