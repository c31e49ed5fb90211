"""Logon history and current sessions: wtmp/btmp via last and lastb, wtmpdb, or logs.

``last`` (util-linux) is asked for ISO 8601 times with the year and the
offset (``--time-format iso``), full user names (``-w``), numeric sources
(``-i``) and reboot/shutdown records (``-x``). Debian 13 replaced wtmp with
wtmpdb: its ``last`` is a link to ``wtmpdb``, which takes the same flags
and prints the same columns; the records say ``origin="wtmpdb"``. Debian
13 ships no ``lastb`` (and its sshd writes no btmp), so failed logins come
from sshd's lines in the journal or the auth log there. BusyBox ``last``
knows none of the flags and prints short dates; Alpine's BusyBox has no
``last`` at all (musl writes no wtmp), so its logons come from the syslog
(``/var/log/messages``, BusyBox syslogd's layout). ``lastb`` reads btmp,
which only root may read. Log-derived records have no session ends.

``who`` reads utmp, except coreutils 9.4 and later built with systemd
(Debian 13), which asks systemd-logind: without logind (containers) it
prints nothing although sshd still writes utmp. Then BusyBox ``who``
(which reads utmp) is asked, and failing that the logins without an end
in ``last`` are taken as the current sessions.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from .detect import is_applet
from .errors import ToolMissing
from .models import CurrentSession, LogonRecord, SystemFacts
from .parsers import parse_auth_log, parse_last, parse_who
from .shell import RemoteShell

log = logging.getLogger(__name__)

_LAST_FLAGS = "--time-format iso -w -i -x"
_AUTH_LOG_SCRIPT = """\
for f in /var/log/auth.log /var/log/secure /var/log/messages; do
  if [ -r "$f" ]; then echo "@@log $f"; grep -a 'sshd' "$f"; fi
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
        if self.user is not None and not _same_user(record.user, self.user):
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
    history = _history_command(facts)
    if history is not None:
        command, origin = history
        result = await shell.run(command, check=False, what="last")
        records += parse_last(result.stdout, now=facts.now, origin=origin)
    if history is None or (not records and is_applet(facts, "last")):
        # No login history (or BusyBox's wtmp is empty, as musl writes
        # none): logins and failures both come from sshd's log lines.
        records = await _from_auth_log(shell, root=root)
        if not records and history is None and not facts.has("journalctl"):
            raise ToolMissing(
                f"{shell.instance} has no 'last' (util-linux or wtmpdb) and no "
                "readable auth log: install util-linux's last, or give a sudo "
                "password so the logs can be read",
                needs="last",
            )
    elif where.failed and facts.has("lastb"):
        if root:
            failed = await shell.run(
                f"lastb {_LAST_FLAGS}", root=True, check=False, what="lastb"
            )
            records += parse_last(failed.stdout, failed=True, now=facts.now)
    elif where.failed:
        # No lastb (Debian 13 has none, and its sshd writes no btmp):
        # failures are in sshd's log lines.
        logged = await _from_auth_log(shell, root=root)
        records += [r for r in logged if r.kind == "failed"]
    if not where.failed:
        records = [r for r in records if r.kind != "failed"]
    kept = [r for r in records if where.keep(r)]
    kept.sort(key=lambda r: _aware(r.start), reverse=True)
    return kept[: where.limit]


async def current_sessions(shell: RemoteShell) -> list[CurrentSession]:
    """Return who is logged in now.

    ``who`` first; where it prints nothing, BusyBox ``who``; then the
    logins that ``last`` shows without an end (``origin`` says which).
    """
    facts = await shell.facts()
    if facts.has("who"):
        result = await shell.run("who", check=False, what="who")
        sessions = parse_who(result.stdout, now=facts.now)
        if sessions:
            return sessions
    if facts.has("busybox") and not is_applet(facts, "who"):
        result = await shell.run("busybox who", check=False, what="busybox who")
        sessions = parse_who(result.stdout, now=facts.now)
        if sessions:
            return sessions
    history = _history_command(facts)
    if history is None:
        if not facts.has("who"):
            raise ToolMissing(
                f"{shell.instance} has neither 'who' nor 'last'", needs="who"
            )
        return []
    command, origin = history
    result = await shell.run(command, check=False, what="last")
    return [
        CurrentSession(r.user, r.terminal, r.start, r.source, origin=r.origin)
        for r in parse_last(result.stdout, now=facts.now, origin=origin)
        if r.kind == "login" and r.still_logged_in
    ]


def _history_command(facts: SystemFacts) -> tuple[str, str] | None:
    """Return the command that prints the login history, and its origin."""
    if facts.has("last"):
        if is_applet(facts, "last"):
            return "last", "wtmp"
        origin = "wtmpdb" if facts.tools["last"].endswith("/wtmpdb") else "wtmp"
        return f"last {_LAST_FLAGS}", origin
    if facts.has("wtmpdb"):
        return f"wtmpdb last {_LAST_FLAGS}", "wtmpdb"
    return None


async def _from_auth_log(shell: RemoteShell, *, root: bool) -> list[LogonRecord]:
    """Return sshd's logins and failures from the journal or the log files.

    All are read: a system may keep journal files or an auth.log from an
    earlier setup while sshd now logs elsewhere. When several hold records
    (often the same lines twice), the one reaching later wins.
    """
    facts = await shell.facts()
    journal: list[LogonRecord] = []
    if facts.has("journalctl"):
        script = (
            "journalctl -q --no-pager -o short-iso"
            " _COMM=sshd _COMM=sshd-session _COMM=sshd-auth"
        )
        result = await shell.run(script, root=root, check=False, what="journalctl")
        journal = parse_auth_log(result.stdout, now=facts.now)
    result = await shell.run(_AUTH_LOG_SCRIPT, root=root, check=False, what="auth log")
    logs = [
        parse_auth_log(text, now=facts.now) for text in result.stdout.split("@@log ")
    ]
    return _latest([journal, *logs])


def _latest(sources: list[list[LogonRecord]]) -> list[LogonRecord]:
    # Journal and log files often hold the same lines; an old one left by
    # an earlier setup is passed over by the one that reaches later.
    found = [records for records in sources if records]
    if not found:
        return []
    return max(found, key=lambda records: max(_aware(r.start) for r in records))


def _same_user(shown: str, wanted: str) -> bool:
    # util-linux 2.38's last cuts a 32-character name (utmp's limit) to 31
    # characters in the lines of sessions it finds open.
    return shown == wanted or (
        len(wanted) == 32 and len(shown) == 31 and wanted.startswith(shown)
    )


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
