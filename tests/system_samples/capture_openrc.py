"""Capture OpenRC's ``rc-status`` and ``rc-update`` from Debian 13's openrc package.

Run as root from the repository root, with the Debian 13 chroot of
``tests/trixie.py`` in place: ``python tests/system_samples/capture_openrc.py``.

Alpine's service manager is OpenRC; Debian packages the same upstream
OpenRC (0.56 in Debian 13; Alpine 3.19 has 0.52). This installs it in the
chroot (from deb.debian.org), adds three ``openrc-run`` test services (one
that sleeps, one whose process dies after a second, one never started),
and runs ``openrc sysinit``, ``boot`` and ``default`` in new PID, mount,
network and UTS namespaces with ``/proc/sys`` read-only and no ``/sys``,
so nothing reaches the host: the chroot's ``ssh`` script starts sshd on
that namespace's own loopback. Then it records what the gateway runs
(``rc-status --all --nocolor``, ``rc-update show -v``, ``rc-service NAME
status``). ``unshare --kill-child`` ends everything; the test services are
removed, and openrc is purged again if this script installed it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from trixie import ROOT  # noqa: E402

SERVICES = {
    "wbt-sleeps": ("daemon that only sleeps", "/bin/sleep", "infinity"),
    "wbt-crashes": ("daemon that dies after a second", "/bin/sh", "\"-c 'sleep 1'\""),
    "wbt-stopped": ("service that is never started", "/bin/sleep", "infinity"),
}
SCRIPT = """\
#!/sbin/openrc-run
description="jupyter-workbench sample {what}"
command={command}
command_args={args}
command_background=yes
pidfile=/run/{name}.pid
"""
NAMESPACE = """\
set -e
R=$1
[ "$$" = 1 ] && [ -n "$R" ] && [ "$R" != / ] ||
    { echo "not PID 1 of a new namespace" >&2; exit 2; }
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
ip link set lo up
exec chroot "$R" /bin/sh -c '
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
rc-update add wbt-sleeps default >/dev/null; rc-update add wbt-crashes default >/dev/null
for level in sysinit boot default; do openrc $level >/dev/null 2>&1; done
sleep 3
for cmd in "rc-status --all --nocolor" "rc-update show -v" \\
    "rc-service wbt-sleeps status" "rc-service wbt-crashes status" \\
    "rc-service wbt-stopped status"; do
  echo "@@@ $cmd"; $cmd 2>&1; echo "[exit status $?]"
done
rc-update del wbt-sleeps default >/dev/null; rc-update del wbt-crashes default >/dev/null
'
"""
FILES = {
    "rc-status --all --nocolor": "openrc056_rc_status.txt",
    "rc-update show -v": "openrc056_rc_update_show.txt",
    "rc-service wbt-sleeps status": "openrc056_status_started.txt",
    "rc-service wbt-crashes status": "openrc056_status_crashed.txt",
    "rc-service wbt-stopped status": "openrc056_status_stopped.txt",
}
HEADER = (
    "#@ Captured in a Debian 13 (trixie) chroot, openrc {version}, by "
    "capture_openrc.py: {cmd}\n"
)


def main() -> None:
    installed = (ROOT / "sbin/openrc-run").exists()
    if not installed:
        subprocess.run(
            ["chroot", str(ROOT), "apt-get", "install", "-y", "-q"]
            + ["--no-install-recommends", "openrc"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    for name, (what, command, args) in SERVICES.items():
        path = ROOT / "etc/init.d" / name
        path.write_text(SCRIPT.format(what=what, command=command, args=args, name=name))
        path.chmod(0o755)
    try:
        version = subprocess.run(
            ["chroot", str(ROOT), "dpkg-query", "-W", "-f", "${Version}", "openrc"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = subprocess.run(
            ["timeout", "120", "unshare", "--pid", "--fork", "--kill-child"]
            + ["--mount", "--propagation", "private", "--net", "--uts"]
            + ["sh", "-c", NAMESPACE, "sh", str(ROOT)],
            capture_output=True,
            text=True,
            check=True,
        )
        for chunk in result.stdout.split("@@@ ")[1:]:
            cmd, _newline, text = chunk.partition("\n")
            header = HEADER.format(version=version, cmd=cmd)
            (HERE / FILES[cmd]).write_text(header + text)
    finally:
        for name in SERVICES:
            (ROOT / "etc/init.d" / name).unlink(missing_ok=True)
        if not installed:
            subprocess.run(
                ["chroot", str(ROOT), "apt-get", "purge", "-y", "-q"]
                + ["openrc", "insserv"],
                check=False,
                stdout=subprocess.DEVNULL,
            )


main()
