"""Capture the ``debian13_*``, ``busybox137_*`` and ``rhel-like_*`` samples.

Run as root from the repository root, with the Debian 13 chroot of
``tests/trixie.py`` in place: ``python tests/system_samples/capture_trixie.py``;
with ``--logs`` it captures sshd's log lines through rsyslog (the chroot
needs the ``rsyslog`` package and ``/etc/rsyslog-wbt.conf``, see the README).

It starts the chroot's own sshd (OpenSSH 10.0, PAM with pam_wtmpdb) on
127.0.0.1 and ::1, logging through BusyBox syslogd, with a ``/run/utmp``.
In the chroot it makes a user with a 32-character name, a ``wheel`` group
with a ``%wheel`` sudoers rule and a member (RHEL's way of giving sudo), a
locked user and one without a password. Then it writes a boot record
(``wtmpdb boot``), fails a password and an unknown user, logs in over ::1
and 127.0.0.1 with terminals, keeps one session open, writes a shutdown
and a second boot record, and records what the chroot's tools print (for
the unit-files listing it installs the test units of ``tests/trixie.py``,
removed afterwards, and masks systemd-timesyncd). The
users are removed afterwards; the chroot's wtmp database keeps its
records (it is the chroot's own, not the host's).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import asyncssh

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from trixie import (  # noqa: E402
    ROOT,
    ChrootUser,
    TrixieSSHD,
    install_units,
    remove_units,
)

LONG = "wbt-trixie-capture-user-name-32c"  # 32 characters, utmp's limit
WHEEL = "wbt-wheel-admin"
LOCKED = "wbt-locked-user"
NOPASS = "wbt-no-password"
assert len(LONG) == 32
# Debian's /etc/rsyslog.conf without imklog (the kernel log is the host's),
# plus a second file in the traditional format.
RSYSLOG_CONF = """\
module(load="imuxsock")
$FileOwner root
$FileGroup adm
$FileCreateMode 0640
$WorkDirectory /var/spool/rsyslog
# Debian 12/13's auth.log: rsyslog's default RFC 3339 file format.
auth,authpriv.*			/var/log/auth.log
# RHEL's /var/log/secure and Ubuntu 22.04's auth.log: the traditional format.
auth,authpriv.*			/var/log/secure;RSYSLOG_TraditionalFileFormat
"""
HEADER = (
    "#@ Captured in a Debian 13 (trixie) chroot by capture_trixie.py: {cmd}\n"
    "#@ {versions}\n"
)


async def connect(s: TrixieSSHD, host: str, user: str, password: str) -> Any:
    return await asyncssh.connect(
        host,
        s.port,
        username=user,
        password=password,
        known_hosts=None,
        config=None,
        client_keys=None,
        agent_path=None,
        preferred_auth="password",
    )


async def fail(s: TrixieSSHD, host: str, user: str) -> None:
    try:
        conn = await connect(s, host, user, "wrong-password")
        conn.close()
    except asyncssh.PermissionDenied:
        pass


async def session(s: TrixieSSHD, host: str, user: ChrootUser) -> tuple[Any, Any]:
    conn = await connect(s, host, user.name, user.password)
    process = await conn.create_process("sleep 600", term_type="xterm")
    await asyncio.sleep(1.5)
    return conn, process


async def end(conn: Any, process: Any) -> None:
    process.kill()
    conn.close()
    await conn.wait_closed()
    await asyncio.sleep(1.5)


def only_ours(text: str) -> str:
    keep = ("wbt-", "reboot", "shutdown", "begins", "{", "}", "[", "]", '"')
    return "".join(
        line + "\n"
        for line in text.splitlines()
        if not line.strip() or any(k in line for k in keep)
    )


async def capture(s: TrixieSSHD) -> None:
    versions = s.run(
        "dpkg-query -W -f '${Package} ${Version}; ' wtmpdb openssh-server "
        "util-linux coreutils passwd sudo systemd busybox"
    ).stdout.strip()

    def save(name: str, cmd: str, text: str) -> None:
        header = HEADER.format(cmd=cmd, versions=versions)
        (HERE / name).write_text(header + text)

    def grab(name: str, cmd: str, *, filtered: bool = False) -> str:
        result = s.run(cmd, check=False)
        text = result.stdout + result.stderr
        if result.returncode:
            text += f"[exit status {result.returncode}]\n"
        save(name, cmd, only_ours(text) if filtered else text)
        return text

    s.run("getent group wheel >/dev/null || groupadd --system wheel")
    s.run(
        "echo '%wheel ALL=(ALL) ALL' > /etc/sudoers.d/wbt-wheel && "
        "chmod 0440 /etc/sudoers.d/wbt-wheel && visudo -cq"
    )
    long = s.add_user(LONG)
    wheel = s.add_user(WHEEL, groups=("wheel",))
    s.add_user(LOCKED)
    s.run(f"usermod -L -e 1 -- {LOCKED}")
    s.run(f"useradd --no-create-home --shell /bin/sh -- {NOPASS}")
    s.users.append(NOPASS)

    s.run("wtmpdb boot")
    await fail(s, "::1", LONG)
    await fail(s, "127.0.0.1", "wbt-no-such-user")
    await end(*await session(s, "::1", long))
    open_v4 = await session(s, "127.0.0.1", wheel)
    s.run("wtmpdb shutdown && sleep 1 && wtmpdb boot")
    open_v6 = await session(s, "::1", long)

    grab("debian13_last_iso.txt", "last --time-format iso -w -i -x", filtered=True)
    grab("debian13_wtmpdb_last_full.txt", "wtmpdb last -F -w -i -x", filtered=True)
    grab("debian13_wtmpdb_last_plain.txt", "wtmpdb last -w", filtered=True)
    grab(
        "debian13_wtmpdb_last_json.txt",
        "wtmpdb last --json -x -w -i --time-format iso",
        filtered=True,
    )
    grab("debian13_lastb.txt", "lastb --time-format iso -w -i")
    grab("debian13_who.txt", "who")
    grab("busybox137_who.txt", "busybox who")
    grab("busybox137_last.txt", "busybox last", filtered=True)
    grab("debian13_getent_passwd.txt", "getent passwd")
    grab("debian13_getent_group.txt", "getent group")
    grab("rhel-like_getent_shadow.txt", "getent shadow", filtered=True)
    grab("rhel-like_sudoers.txt", "cat /etc/sudoers /etc/sudoers.d/*")
    install_units()
    s.run("systemctl mask systemd-timesyncd.service")
    try:
        grab(
            "debian13_systemctl_unit_files.json.txt",
            "systemctl list-unit-files --output=json --no-pager",
        )
    finally:
        remove_units()
    grab("debian13_systemctl_units_error.txt", "systemctl list-units --output=json")
    grab(
        "busybox137_passwd_lock.txt",
        f"busybox passwd -l {LONG}; busybox passwd -u {LONG}",
    )
    await end(*open_v4)
    await end(*open_v6)
    messages = s.log_text()
    save(
        "busybox137_syslogd_messages.txt",
        "BusyBox syslogd -O FILE, sshd logging to /dev/log (LogLevel VERBOSE)",
        "".join(line + "\n" for line in messages.splitlines() if "sshd" in line),
    )


async def capture_logs(s: TrixieSSHD) -> None:
    """Log in, fail a password and an unknown user; save what rsyslog kept."""
    versions = s.run(
        "dpkg-query -W -f '${Package} ${Version}; ' openssh-server rsyslog systemd"
    ).stdout.strip()
    user = s.add_user(LONG)
    await fail(s, "::1", LONG)
    await fail(s, "127.0.0.1", "wbt-no-such-user")
    await end(*await session(s, "::1", user))
    header = HEADER.replace("{versions}", versions)
    for path, name, form in (
        ("/var/log/auth.log", "debian13_rsyslog_auth_log.txt", "default"),
        ("/var/log/secure", "rsyslog_traditional_secure.txt", "traditional"),
    ):
        text = s.run(f"grep -a sshd {path}").stdout
        (HERE / name).write_text(
            header.format(cmd=f"rsyslogd ({form} file format): {path}") + text
        )


def main() -> None:
    """Capture the wtmpdb/BusyBox/account samples, or with --logs the log ones."""
    if "--logs" not in sys.argv:
        server = TrixieSSHD(utmp=True, syslog="/var/log/wbt-capture-messages")
        server.start()
        try:
            asyncio.run(capture(server))
        finally:
            server.run("rm -f /etc/sudoers.d/wbt-wheel", check=False)
            server.cleanup()
        return
    if not (ROOT / "usr/sbin/rsyslogd").exists():
        raise SystemExit(
            f"install rsyslog first: chroot {ROOT} apt-get install rsyslog"
        )
    (ROOT / "etc/rsyslog-wbt.conf").write_text(RSYSLOG_CONF)
    server = TrixieSSHD(logger="rsyslog", syslog="/var/log/auth.log")
    server.start()
    try:
        asyncio.run(capture_logs(server))
    finally:
        server.run("rm -f /var/log/auth.log /var/log/secure", check=False)
        server.cleanup()


main()
