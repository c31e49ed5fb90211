"""A Debian 13 (trixie) chroot's own sshd on loopback, for wtmpdb and utmp tests.

Debian 13 replaced wtmp with wtmpdb (``last`` is ``wtmpdb last``) and no
longer ships ``lastb`` or ``lastlog``; the test machine is Debian 12. A
minbase chroot made once with::

    PKGS=wtmpdb,libpam-wtmpdb,systemd,util-linux,openssh-server,sudo,procps,passwd,busybox
    debootstrap --variant=minbase --include=$PKGS \\
        trixie /srv/trixie http://deb.debian.org/debian

holds trixie's real programs. `TrixieSSHD` starts the chroot's
``/usr/sbin/sshd`` in a private mount namespace (``unshare --mount``) with
its own ``/proc``, a new ``devpts`` instance (terminals) and a tmpfs on
``/run`` (so a ``utmp`` made there is trixie's alone), sharing the host's
network namespace: it listens on 127.0.0.1 and ::1 only. Commands run in
the same namespace with ``nsenter``. Users are made in the chroot's own
account files. Nothing outside the chroot and the namespace is changed.

``dev/test`` makes it when it is missing (``WB_TRIXIE_ROOT`` names
another place); tests that need it fail without it. The parser tests use
samples captured from it.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from sshd import USER_PREFIX, free_port, stop_process

ROOT = Path(os.environ.get("WB_TRIXIE_ROOT", "/srv/trixie"))
BUILD_HINT = (
    "make the Debian 13 chroot once: debootstrap --variant=minbase --include="
    "wtmpdb,libpam-wtmpdb,systemd,util-linux,openssh-server,sudo,procps,passwd,busybox "
    f"trixie {ROOT} http://deb.debian.org/debian"
)

SSHD_CONFIG = """\
ListenAddress 127.0.0.1
ListenAddress ::1
Port {port}
HostKey {host_key}
PidFile none
LogLevel VERBOSE
UsePAM yes
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PubkeyAuthentication yes
PermitRootLogin no
PrintMotd no
AllowUsers {user_prefix}*
UseDNS no
"""

# Mounts made in the private mount namespace before sshd starts; they
# vanish with the namespace when sshd (its last process) exits.
_NAMESPACE_SCRIPT = """\
set -e
R=$1; shift
mount -t proc proc "$R/proc"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock"
# A log daemon takes sshd's syslog lines; its PID is kept for stop().
case "$WB_LOGGER" in
  busybox)
    rm -f "$R/dev/log"
    chroot "$R" busybox syslogd -n -O "$WB_SYSLOG" & echo $! > "$R/run/wbt-logger.pid" ;;
  rsyslog)
    rm -f "$R/dev/log"
    chroot "$R" rsyslogd -n -f /etc/rsyslog-wbt.conf & echo $! > "$R/run/wbt-logger.pid" ;;
esac
if [ -n "$WB_LOGGER" ]; then
  for _ in $(seq 100); do [ -S "$R/dev/log" ] && break; sleep 0.05; done
fi
if [ -n "$WB_UTMP" ]; then
  : > "$R/run/utmp"; chroot "$R" chown root:utmp /run/utmp; chmod 0664 "$R/run/utmp"
fi
exec chroot "$R" "$@"
"""

# systemd units for the capture scripts: a failure, a daemon, a restart loop.
TEST_UNITS = {
    "wbt-fails.service": (
        "jupyter-workbench sample unit that exits with status 3",
        "Type=oneshot\nExecStart=/bin/sh -c 'exit 3'\n",
    ),
    "wbt-sleeps.service": (
        "jupyter-workbench sample daemon that only sleeps",
        "ExecStart=/bin/sleep infinity\n",
    ),
    "wbt-restarts.service": (
        "jupyter-workbench sample unit that keeps failing and restarting",
        "ExecStart=/bin/sh -c 'sleep 1; exit 1'\nRestart=always\nRestartSec=30\n",
    ),
}


def install_units() -> None:
    """Install and enable the sample units (``TEST_UNITS``) in the chroot."""
    system = ROOT / "etc/systemd/system"
    for name, (description, service) in TEST_UNITS.items():
        (system / name).write_text(
            f"[Unit]\nDescription={description}\n[Service]\n{service}"
            "[Install]\nWantedBy=multi-user.target\n"
        )
        wants = system / "multi-user.target.wants" / name
        wants.unlink(missing_ok=True)
        wants.symlink_to(f"/etc/systemd/system/{name}")


def remove_units() -> None:
    """Remove the sample units again."""
    system = ROOT / "etc/systemd/system"
    for name in TEST_UNITS:
        (system / "multi-user.target.wants" / name).unlink(missing_ok=True)
        (system / name).unlink(missing_ok=True)


def available() -> bool:
    """Whether the trixie chroot is there with the programs the tests use."""
    return all(
        (ROOT / p).exists()
        for p in ("usr/sbin/sshd", "usr/bin/wtmpdb", "usr/bin/sudo", "usr/bin/busybox")
    )


@dataclass
class ChrootUser:
    """An account in the chroot's own passwd/shadow."""

    name: str
    password: str


@dataclass
class TrixieSSHD:
    """The chroot's sshd in the foreground, on 127.0.0.1 and ::1.

    Parameters
    ----------
    utmp
        Create an empty ``/run/utmp`` (root:utmp, 0664) before sshd starts,
        as systemd-tmpfiles does on a booted system, so that sshd records
        sessions there and ``who`` can read them.
    syslog
        A file in the chroot where the log daemon writes sshd's lines
        (``/var/log/messages`` for BusyBox ``syslogd``, Alpine's); empty:
        sshd logs with ``-E`` to a file of its own.
    logger
        The log daemon, started in the namespace and stopped by its PID:
        ``busybox`` (``syslogd -O syslog``) or ``rsyslog`` (the chroot's
        ``/etc/rsyslog-wbt.conf``, which must write *syslog*). journald
        does not run here without systemd: it wants a cgroup root.
    """

    utmp: bool = False
    syslog: str = ""
    logger: str = "busybox"
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    users: list[str] = field(default_factory=list)
    _key: asyncssh.SSHKey | None = field(default=None, repr=False)

    @property
    def config_dir(self) -> Path:
        return ROOT / "etc/ssh" / f"wbt-{os.getpid()}-{id(self):x}"

    @property
    def log_path(self) -> Path:
        if self.syslog:
            return ROOT / self.syslog.lstrip("/")
        return self.config_dir / "sshd.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def host_public_key(self) -> str:
        assert self._key is not None, "the server has not started"
        return self._key.export_public_key("openssh").decode().strip()

    def log_text(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def start(self) -> None:
        """Write a host key and config inside the chroot and start its sshd."""
        if not available():
            raise RuntimeError(f"no trixie chroot at {ROOT}: {BUILD_HINT}")
        self.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._key = asyncssh.generate_private_key("ssh-ed25519")
        key = self.config_dir / "host_ed25519_key"
        self._key.write_private_key(key)
        key.chmod(0o600)
        inside = "/" + str(self.config_dir.relative_to(ROOT))
        for _attempt in range(5):
            self.port = free_port()
            (self.config_dir / "sshd_config").write_text(
                SSHD_CONFIG.format(
                    port=self.port,
                    host_key=f"{inside}/host_ed25519_key",
                    user_prefix=USER_PREFIX,
                )
            )
            self.log_path.unlink(missing_ok=True)
            env = {
                **os.environ,
                "WB_UTMP": "1" if self.utmp else "",
                "WB_SYSLOG": self.syslog,
                "WB_LOGGER": self.logger if self.syslog else "",
            }
            log_args = [] if self.syslog else ["-E", f"{inside}/sshd.log"]
            self.process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    _NAMESPACE_SCRIPT,
                    "sh",
                    str(ROOT),
                    "/usr/sbin/sshd",
                    "-D",
                    "-f",
                    f"{inside}/sshd_config",
                    *log_args,
                ],
                stdin=subprocess.DEVNULL,
                env=env,
            )
            if self._listening():
                return
            self.stop()
        text = self.log_text()
        shutil.rmtree(self.config_dir, ignore_errors=True)
        raise RuntimeError(f"the trixie sshd did not start:\n{text}")

    def _listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            text = self.log_text()
            if len(re.findall(rf"Server listening on \S+ port {self.port}", text)) >= 2:
                return True
            if self.process.poll() is not None or "Address already in use" in text:
                return False
            time.sleep(0.05)
        return False

    def run(
        self, script: str, *, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a ``sh`` script as root in the chroot, in sshd's mount namespace."""
        assert self.pid is not None, "the server has not started"
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "chroot", str(ROOT), "sh", "-c"]
            + [script],
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            env={
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LC_ALL": "C",
                "TZ": "UTC",
            },
        )

    def add_user(
        self, name: str | None = None, *, groups: tuple[str, ...] = ()
    ) -> ChrootUser:
        """Add a ``wbt-`` account with a home and a random password in the chroot."""
        name = name or USER_PREFIX + secrets.token_hex(3)
        password = secrets.token_urlsafe(18)
        extra = f"--groups {shlex.quote(','.join(groups))} " if groups else ""
        self.run(
            f"useradd --create-home --shell /bin/bash {extra}-- {shlex.quote(name)}"
        )
        self.users.append(name)
        # chpasswd reads the secret from stdin so that it never shows in ps.
        self.run("chpasswd", stdin=f"{name}:{password}\n")
        return ChrootUser(name, password)

    def stop(self) -> None:
        """Stop sshd (and the syslogd started for it) by their PIDs."""
        if self.process is None:
            return
        if self.syslog:
            found = self.run("cat /run/wbt-logger.pid", check=False).stdout.strip()
            if found.isdigit():
                try:
                    os.kill(int(found), 15)
                except ProcessLookupError:
                    pass
        stop_process(self.process)
        self.process = None

    def cleanup(self) -> None:
        """Stop sshd, remove the users made here and the config folder.

        Leftover session processes are found by their root directory (the
        chroot) and their uid, never by name: a chroot uid may also be a
        host user's uid.
        """
        self.stop()
        for name in self.users:
            uid = _chroot_uid(name)
            if uid is not None:
                _kill_chrooted(uid)
            subprocess.run(
                ["chroot", str(ROOT), "userdel", "--remove", "--", name],
                capture_output=True,
                check=False,
            )
        self.users.clear()
        shutil.rmtree(self.config_dir, ignore_errors=True)
        if self.syslog:
            self.log_path.unlink(missing_ok=True)


def _chroot_uid(name: str) -> int | None:
    for line in (ROOT / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if len(parts) == 7 and parts[0] == name:
            return int(parts[2])
    return None


def _kill_chrooted(uid: int) -> None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != str(ROOT) or entry.stat().st_uid != uid:
                continue
            os.kill(int(entry.name), 9)
        except (OSError, ProcessLookupError):
            continue
