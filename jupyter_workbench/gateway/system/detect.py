"""Find out what an instance is: distribution family, init system, tools, rights.

One small POSIX ``sh`` script prints ``/etc/os-release`` and ``key=value``
facts; `parse_facts` turns that text into `SystemFacts`. Tools are looked
up with ``command -v`` on a PATH that includes the sbin folders (a normal
user's PATH on Debian lacks them) and resolved with ``readlink -f``, so a
BusyBox applet shows as ``.../busybox``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .models import SystemFacts
from .parsers import parse_os_release

#: Programs whose presence decides how an action is done.
TOOLS = (
    "getent",
    "useradd",
    "userdel",
    "usermod",
    "adduser",
    "deluser",
    "addgroup",
    "delgroup",
    "gpasswd",
    "passwd",
    "chpasswd",
    "last",
    "lastb",
    "lastlog",
    "wtmpdb",
    "who",
    "journalctl",
    "systemctl",
    "service",
    "update-rc.d",
    "chkconfig",
    "rc-service",
    "rc-status",
    "rc-update",
    "sudo",
    "timeout",
    "busybox",
)

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DETECT_SCRIPT = f"""\
for f in /etc/os-release /usr/lib/os-release; do
  if [ -r "$f" ]; then cat "$f"; break; fi
done
echo @@facts
echo "uid=$(id -u)"
echo "user=$(id -un)"
echo "now=$(date +%s)"
for t in {" ".join(TOOLS)}; do
  p=$(command -v "$t" 2>/dev/null) || continue
  case "$p" in /*) echo "tool.$t=$(readlink -f "$p" 2>/dev/null || echo "$p")";; esac
done
if [ -d /run/systemd/system ]; then echo init=systemd
elif [ -d /run/openrc ] || [ -e /sbin/openrc-run ]; then echo init=openrc
elif [ -d /etc/init.d ]; then echo init=sysv
else echo init=none; fi
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
  if sudo -n true >/dev/null 2>&1; then echo sudo=nopasswd; else echo sudo=password; fi
fi
"""

_FAMILIES = {
    "debian": "debian",
    "ubuntu": "debian",
    "rhel": "rhel",
    "centos": "rhel",
    "fedora": "rhel",
    "rocky": "rhel",
    "almalinux": "rhel",
    "ol": "rhel",
    "amzn": "rhel",
    "alpine": "alpine",
}


def parse_facts(text: str) -> SystemFacts:
    """Turn the output of `DETECT_SCRIPT` into `SystemFacts`."""
    release_text, _sep, facts_text = text.partition("@@facts")
    release = parse_os_release(release_text)
    facts: dict[str, str] = {}
    tools: dict[str, str] = {}
    for line in facts_text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key.startswith("tool."):
            tools[key[5:]] = value
        else:
            facts[key] = value

    distro = release.get("ID", "unknown")
    family = _FAMILIES.get(distro, "")
    for like in release.get("ID_LIKE", "").split():
        family = family or _FAMILIES.get(like, "")
    uid = int(facts.get("uid", "-1") or -1)
    if uid == 0:
        privilege = "root"
    else:
        privilege = {"nopasswd": "sudo", "password": "sudo-password"}.get(
            facts.get("sudo", ""), "none"
        )
    busybox = (
        any(
            tools.get(t, "").endswith("/busybox") for t in ("adduser", "last", "passwd")
        )
        and "useradd" not in tools
    )
    now = facts.get("now", "")
    return SystemFacts(
        distro=distro,
        family=family or ("alpine" if busybox else "unknown"),
        pretty_name=release.get("PRETTY_NAME", distro),
        uid=uid,
        login_user=facts.get("user", ""),
        privilege=privilege,
        init=facts.get("init", "none"),
        busybox=busybox,
        tools=tools,
        now=(datetime.fromtimestamp(int(now), timezone.utc) if now.isdigit() else None),
    )


def is_applet(facts: SystemFacts, tool: str) -> bool:
    """Whether *tool* on the instance is a BusyBox applet."""
    return facts.tools.get(tool, "").endswith("/busybox")


__all__ = ["DETECT_SCRIPT", "PATH", "TOOLS", "is_applet", "parse_facts"]
