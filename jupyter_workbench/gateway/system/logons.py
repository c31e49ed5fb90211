"""Logon history and current sessions: wtmp/btmp via last and lastb, or the auth log.

``last`` (util-linux) is asked for ISO 8601 times with the year and the
offset (``--time-format iso``), full user names (``-w``), numeric sources
(``-i``) and reboot/shutdown records (``-x``). BusyBox ``last`` knows none
of those flags and prints short dates; ``lastb`` reads btmp, which only
root may read. Where neither exists (minimal images, distributions that
moved to wtmpdb without its ``last``), sshd's lines in the journal or in
``/var/log/auth.log`` / ``/var/log/secure`` give logins and failures,
without session ends.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from .detect import is_applet
from .errors import ToolMissing
from .models import CurrentSession, LogonRecord
from .parsers import parse_auth_log, parse_last, parse_who
from .shell import RemoteShell

log = logging.getLogger(__name__)

_LAST_FLAGS = "--time-format iso -w -i -x"
_AUTH_LOG_SCRIPT = """\
for f in /var/log/auth.log /var/log/secure /var/log/messages; do
  if [ -r "$f" ]; then grep -a 'sshd' "$f"; break; fi
done
"""


@dataclass
class LogonFilter:
    """Which records to keep: by user, by source (address or network), by time."""

    user: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    failed: bool = True
    limit: int = 1000

    def keep(self, record: LogonRecord) -> bool:
        """Whether *record* passes every given condition."""
        if self.user is not None and record.user != self.user:
            return False
        if self.source is not None and not _source_matches(record.source, self.source):
            return False
        start = _aware(record.start)
        if self.since is not None and start < _aware(self.since):
            return False
        return self.until is None or start <= _aware(self.until)


async def logons(
    shell: RemoteShell, where: LogonFilter | None = None
) -> list[LogonRecord]:
    """Return logins (and failed logins, when readable), newest first.

    Failed logins need root (btmp is readable by root only); without root
    rights they are left out and the login history is still returned.

    Raises
    ------
    ToolMissing
        When the instance has neither ``last`` nor a readable auth log.
    """
    where = where or LogonFilter()
    facts = await shell.facts()
    root = await shell.can_be_root()
    records: list[LogonRecord] = []
    if facts.has("last"):
        flags = "" if is_applet(facts, "last") else _LAST_FLAGS
        result = await shell.run(f"last {flags}", check=False, what="last")
        records += parse_last(result.stdout, now=facts.now)
        if where.failed and root and facts.has("lastb"):
            failed = await shell.run(
                f"lastb {flags}", root=True, check=False, what="lastb"
            )
            records += parse_last(failed.stdout, failed=True, now=facts.now)
    else:
        records += await _from_auth_log(shell, root=root)
        if not records and not facts.has("journalctl"):
            raise ToolMissing(
                f"{shell.instance} has no 'last' (util-linux or wtmpdb) and no "
                "readable auth log: install util-linux's last, or give a sudo "
                "password so the logs can be read",
                needs="last",
            )
    if not where.failed:
        records = [r for r in records if r.kind != "failed"]
    kept = [r for r in records if where.keep(r)]
    kept.sort(key=lambda r: _aware(r.start), reverse=True)
    return kept[: where.limit]


async def current_sessions(shell: RemoteShell) -> list[CurrentSession]:
    """Return who is logged in now (``who``); empty where there is no utmp."""
    facts = await shell.facts()
    if not facts.has("who"):
        raise ToolMissing(f"{shell.instance} has no 'who' (coreutils)", needs="who")
    result = await shell.run("who", check=False, what="who")
    return parse_who(result.stdout)


async def _from_auth_log(shell: RemoteShell, *, root: bool) -> list[LogonRecord]:
    facts = await shell.facts()
    if facts.has("journalctl"):
        script = "journalctl -q --no-pager -o short-iso _COMM=sshd _COMM=sshd-session"
        result = await shell.run(script, root=root, check=False, what="journalctl")
        records = parse_auth_log(result.stdout, now=facts.now)
        if records:
            return records
    result = await shell.run(_AUTH_LOG_SCRIPT, root=root, check=False, what="auth log")
    return parse_auth_log(result.stdout, now=facts.now)


def _source_matches(source: str | None, wanted: str) -> bool:
    if source is None:
        return False
    try:
        network = ipaddress.ip_network(wanted, strict=False)
        return ipaddress.ip_address(source) in network
    except ValueError:
        return source == wanted


def _aware(when: datetime) -> datetime:
    # Times without an offset (short formats) are the instance's local
    # time; they are compared as UTC, which is what servers usually run.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


__all__ = ["LogonFilter", "current_sessions", "logons"]
