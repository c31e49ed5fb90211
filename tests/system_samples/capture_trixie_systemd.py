"""Capture systemd's live unit states, the journal and logind's ``who`` on Debian 13.

Run as root from the repository root, with the Debian 13 chroot of
``tests/trixie.py`` (plus ``rsyslog``) in place:
``python tests/system_samples/capture_trixie_systemd.py``.

It boots the chroot's own systemd as PID 1 the way a container manager
does: new PID, mount, network, cgroup and UTS namespaces, ``pivot_root``
into the chroot, ``/proc/sys`` and ``/sys`` read-only (so nothing it sets
reaches the host's kernel), the console bound to a file. Its network
namespace holds only its own loopback: the chroot's ``ssh.service``
listens there, and the logins are made from a client run inside that
namespace. Three test units are installed: one that exits with status 3
(``failed``), one that sleeps (``running``) and one that fails and
restarts after 30 s (``activating``/``auto-restart``). A user with a
32-character name fails a password and logs in over ::1 and 127.0.0.1; one
session stays open while ``who`` (coreutils 9.7 asks logind), ``last``
(wtmpdb, with the boot record that ``wtmpdb-update-boot.service`` wrote),
``systemctl`` and ``journalctl`` run. Everything started is stopped by
killing the ``unshare`` process (``--kill-child`` takes systemd with it);
the user and the test units are removed.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from trixie import ROOT, install_units, remove_units  # noqa: E402

LONG = "wbt-trixie-capture-user-name-32c"
BOOT = """\
set -e
R=$1; CONSOLE=$2
[ "$$" = 1 ] && [ -n "$R" ] && [ "$R" != / ] ||
    { echo "not PID 1 of a new namespace" >&2; exit 2; }
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"
mount --bind "$CONSOLE" "$R/dev/console"
ip link set lo up
mkdir -p "$R/.oldroot"
cd "$R"
pivot_root . .oldroot
umount -l /.oldroot
export container=wbt-capture
exec /lib/systemd/systemd --system --log-target=console --log-color=no
"""
CLIENT = """\
import asyncio, sys, asyncssh
name, password = sys.argv[1], sys.stdin.readline().strip()
async def connect(host, pw):
    return await asyncssh.connect(host, 22, username=name, password=pw,
        known_hosts=None, config=None, client_keys=None, agent_path=None,
        preferred_auth="password")
async def main():
    try:
        await connect("::1", "wrong-password")
    except asyncssh.PermissionDenied:
        pass
    conn = await connect("::1", password)
    p = await conn.create_process("sleep 60", term_type="xterm")
    await asyncio.sleep(1.5)
    p.kill(); conn.close(); await conn.wait_closed()
    conn = await connect("127.0.0.1", password)
    p = await conn.create_process("sleep 600", term_type="xterm")
    print("open", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    p.kill(); conn.close(); await conn.wait_closed()
asyncio.run(main())
"""
HEADER = (
    "#@ Captured in a Debian 13 (trixie) chroot booted with its own systemd as PID 1 "
    "by capture_trixie_systemd.py: {cmd}\n#@ {versions}\n"
)


def pid1(unshare: subprocess.Popen[bytes]) -> int:
    """Return the host PID of the systemd that ``unshare --fork`` started."""
    for _ in range(200):
        children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children")
        found = children.read_text().split() if children.exists() else []
        if found:
            return int(found[0])
        time.sleep(0.05)
    raise RuntimeError("systemd did not start")


def inside(pid: int, script: str, check: bool = False) -> str:
    result = subprocess.run(
        ["nsenter", "-t", str(pid), "-a", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "TZ": "UTC"},
        check=check,
    )
    return result.stdout + result.stderr


def main() -> None:
    install_units()
    password = secrets.token_urlsafe(18)
    subprocess.run(
        ["chroot", str(ROOT), "useradd", "-m", "-s", "/bin/bash", "--", LONG],
        check=True,
    )
    subprocess.run(
        ["chroot", str(ROOT), "chpasswd"],
        input=f"{LONG}:{password}\n",
        text=True,
        check=True,
    )
    console = tempfile.NamedTemporaryFile(prefix="wbt-console-")
    unshare = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", "--mount"]
        + ["--propagation", "private", "--net", "--cgroup", "--uts"]
        + ["sh", "-c", BOOT, "sh", str(ROOT), console.name],
        stdin=subprocess.DEVNULL,
    )
    client = None
    try:
        pid = pid1(unshare)
        for _ in range(600):
            state = inside(pid, "systemctl is-system-running").strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.1)
        client = subprocess.Popen(
            ["nsenter", "-t", str(pid), "-n", sys.executable, "-c", CLIENT, LONG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(password + "\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "open"
        time.sleep(1.5)
        # Catch wbt-restarts between two runs (auto-restart).
        for _ in range(100):
            if "auto-restart" in inside(pid, "systemctl show -p SubState wbt-restarts"):
                break
            time.sleep(0.2)
        versions = inside(
            pid,
            "dpkg-query -W -f '${Package} ${Version}; ' systemd coreutils wtmpdb "
            "openssh-server",
        ).strip()

        def grab(name: str, cmd: str, keep: str | None = None) -> None:
            text = inside(pid, cmd)
            if keep is not None:
                text = "".join(
                    line + "\n"
                    for line in text.splitlines()
                    if keep in line or "begins" in line or not line.strip()
                )
            (HERE / name).write_text(HEADER.format(cmd=cmd, versions=versions) + text)

        grab(
            "debian13_systemctl_units.json.txt",
            "systemctl list-units --type=service --all --output=json --no-pager",
        )
        grab(
            "debian13_systemctl_units_plain.txt",
            "systemctl list-units --type=service --all --no-pager",
        )
        grab(
            "debian13_systemctl_unit_files_services.json.txt",
            "systemctl list-unit-files --type=service --output=json --no-pager",
        )
        grab("debian13_systemd_who.txt", "who")
        grab(
            "debian13_systemd_last_iso.txt",
            "last --time-format iso -w -i -x",
        )
        grab(
            "debian13_journalctl_sshd.txt",
            "journalctl -q --no-pager -o short-iso"
            " _COMM=sshd _COMM=sshd-session _COMM=sshd-auth",
        )
        grab(
            "debian13_systemctl_status_failed.txt",
            "systemctl status --no-pager --lines=5 wbt-fails.service",
        )
        client.stdin.write("\n")
        client.stdin.flush()
        client.wait(timeout=30)
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        unshare.kill()
        unshare.wait()
        console.close()
        subprocess.run(
            ["chroot", str(ROOT), "userdel", "--remove", "--", LONG], check=False
        )
        remove_units()


main()
