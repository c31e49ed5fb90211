"""Services on an instance: list, start, stop, restart, reload, enable, disable, status.

systemd when it runs (``/run/systemd/system`` exists; an installed
``systemctl`` in a container without systemd does not count), OpenRC on
Alpine, SysV init scripts otherwise. SysV states come from each script's
``status`` (LSB exit codes), with a 10-second ``timeout`` per script where
the instance has ``timeout``, so one hung script does not stall the list.
"""

from __future__ import annotations

import logging
from shlex import quote

from . import commands
from .errors import SystemInputError, ToolMissing
from .models import ServiceInfo, ServiceStatus
from .parsers import (
    merge_units,
    parse_openrc,
    parse_systemctl_units,
    parse_sysv,
    parse_unit_files,
)
from .shell import RemoteShell

log = logging.getLogger(__name__)

_SYSV_STATUS = """\
for f in /etc/init.d/*; do
  n=${f##*/}
  case "$n" in
    README|skeleton|rc|rcS|functions|halt|killall|reboot|single|*.sh|*.dpkg-*) continue;;
  esac
  [ -x "$f" ] || continue
  %s "$f" status >/dev/null 2>&1 </dev/null
  echo "$n $?"
done
"""
_RC_LINKS = """\
for d in /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d /etc/rc6.d; do
  [ -d "$d" ] && { echo "@@$d"; ls -1 "$d"; }
done
"""


async def list_services(shell: RemoteShell) -> list[ServiceInfo]:
    """Return every service with its state and boot setting, by name.

    Raises
    ------
    ToolMissing
        When the instance runs no init system the gateway knows.
    """
    facts = await shell.facts()
    if facts.init == "systemd":
        units = await shell.run(
            "systemctl list-units --type=service --all --output=json --no-pager "
            "--no-legend --plain",
            what="systemctl list-units",
        )
        files = await shell.run(
            "systemctl list-unit-files --type=service --no-pager --no-legend",
            what="systemctl list-unit-files",
        )
        return merge_units(
            parse_systemctl_units(units.stdout), parse_unit_files(files.stdout)
        )
    if facts.init == "openrc":
        status = await shell.run("rc-status --all --nocolor", check=False)
        update = await shell.run("rc-update show -v", check=False)
        return parse_openrc(status.stdout, update.stdout)
    if facts.init == "sysv":
        guard = "timeout 10" if facts.has("timeout") else ""
        root = await shell.can_be_root()
        status = await shell.run(_SYSV_STATUS % guard, root=root, check=False)
        links = await shell.run(_RC_LINKS, check=False)
        return parse_sysv(status.stdout, links.stdout)
    raise ToolMissing(
        f"{shell.instance} runs no systemd, OpenRC or SysV init that the workbench "
        "can manage (a container without an init system?)",
        needs="systemd, OpenRC or /etc/init.d",
    )


async def service_action(shell: RemoteShell, name: str, action: str) -> ServiceInfo:
    """Start, stop, restart, reload, enable or disable a service; return its state."""
    commands.check_service(name)
    facts = await shell.facts()
    script = commands.service_action(facts, name, action)
    await _require(shell, name)
    await shell.run(script, root=True, what=f"{action.capitalize()} of {name}")
    log.info("%s of service %s on %s", action.capitalize(), name, shell.instance)
    return await _require(shell, name)


async def service_status(
    shell: RemoteShell, name: str, *, lines: int = 50
) -> ServiceStatus:
    """Return the service's state, its manager's status text and latest log lines."""
    commands.check_service(name)
    service = await _require(shell, name)
    facts = await shell.facts()
    root = await shell.can_be_root()
    q, n = quote(name), max(1, min(int(lines), 1000))
    if facts.init == "systemd":
        status = f"systemctl status --no-pager --lines=0 -- {q}"
        logs = f"journalctl --no-pager -q -o short-iso -n {n} -u {q}"
    elif facts.init == "openrc":
        status = f"rc-service {q} status"
        logs = _log_tail(name, n)
    else:
        status = f"/etc/init.d/{q} status"
        logs = _log_tail(name, n)
    text = await shell.run(status, root=root, check=False)
    found = await shell.run(logs, root=root, check=False)
    return ServiceStatus(
        service=service,
        status_text=(text.stdout + text.stderr).strip(),
        log=found.stdout.splitlines()[-n:],
    )


def _log_tail(name: str, lines: int) -> str:
    # Without a journal, syslog lines naming the service are the log.
    return (
        "for f in /var/log/syslog /var/log/messages /var/log/daemon.log; do "
        f'[ -r "$f" ] && grep -a -F -e {quote(name)} "$f" | tail -n {lines} && break; '
        "done; true"
    )


async def _require(shell: RemoteShell, name: str) -> ServiceInfo:
    for service in await list_services(shell):
        if name in (service.name, service.name.removesuffix(".service")):
            return service
    raise SystemInputError(
        f"There is no service {name} on {shell.instance}", service=name
    )


__all__ = ["list_services", "service_action", "service_status"]
