"""Pure parsers of system tools' output: getent, shadow, sudoers, last, who, services.

Each function takes the text a program printed (run with ``LC_ALL=C``) and
returns plain records; none runs anything. The formats they read, with
samples from several distributions, are in ``tests/system_samples/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import CurrentSession, LogonRecord, ServiceInfo, UserInfo

#: Groups whose members may use sudo on the common distributions.
SUDO_GROUPS = ("sudo", "wheel", "admin")

_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
_FULL = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}"
_SHORT = r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d"
_WHEN = f"(?:{_ISO}|{_FULL}|{_SHORT})"
# The terminal column holds "system boot", "system down" and "(to lvl 5)",
# which contain spaces; anything else is one word.
_TTY = r"system boot|system down|\(to lvl \S+\)|\S+"
_LAST_LINE = re.compile(
    rf"^(?P<user>\S+)\s+(?P<tty>{_TTY})\s+(?:(?P<host>.*?)\s+)?"
    rf"(?P<start>{_WHEN})\s*(?P<rest>.*)$"
)
_DURATION = re.compile(r"\((?:(?P<days>\d+)\+)?(?P<h>\d+):(?P<m>\d\d)\)\s*$")


@dataclass
class PasswdEntry:
    """One line of ``getent passwd``."""

    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str


@dataclass
class ShadowEntry:
    """The login-relevant fields of one ``/etc/shadow`` line."""

    name: str
    has_password: bool
    password_locked: bool
    expire_day: int | None


# -- accounts -------------------------------------------------------------


def parse_os_release(text: str) -> dict[str, str]:
    """Parse ``/etc/os-release`` (shell-style ``KEY=value`` lines)."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key] = value
    return found


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Parse ``getent passwd``; lines that are not seven fields are skipped."""
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) != 7 or not parts[2].isdigit() or not parts[3].isdigit():
            continue
        name, _pw, uid, gid, comment, home, shell = parts
        entries.append(PasswdEntry(name, int(uid), int(gid), comment, home, shell))
    return entries


def parse_group(text: str) -> dict[str, tuple[int, list[str]]]:
    """Parse ``getent group`` into name -> (gid, member names)."""
    groups: dict[str, tuple[int, list[str]]] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        members = [m for m in parts[3].split(",") if m]
        groups[parts[0]] = (int(parts[2]), members)
    return groups


def parse_shadow(text: str) -> dict[str, ShadowEntry]:
    """Parse ``getent shadow`` (or ``/etc/shadow``).

    A password field of ``!``, ``!!``, ``*`` or empty holds no password;
    ``!`` before a hash means the password is locked (``usermod -L``).
    """
    entries = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 8:
            continue
        field = parts[1]
        digest = field.lstrip("!")
        has_password = bool(digest) and digest not in ("*", "x")
        expire = parts[7].strip()
        entries[parts[0]] = ShadowEntry(
            parts[0],
            has_password=has_password,
            password_locked=has_password and field.startswith("!"),
            expire_day=int(expire) if expire.lstrip("-").isdigit() else None,
        )
    return entries


def parse_sudoers(text: str) -> tuple[set[str], set[str]]:
    """Return the user names and group names that sudoers rules grant.

    Only rule lines count: ``Defaults``, aliases and include directives are
    skipped. A ``User_Alias`` is not expanded (it is reported as nothing).
    """
    users: set[str] = set()
    groups: set[str] = set()
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "@")) or "=" not in line:
            continue
        first = line.split()[0]
        if first.startswith("Defaults") or first.endswith("_Alias"):
            continue
        for who in line.split(None, 1)[0].split(","):
            if who.startswith("%"):
                groups.add(who[1:].lstrip(":"))
            elif who and who != "ALL" and not who.startswith(("+", "#")):
                users.add(who)
    return users, groups


def parse_lastlog(text: str) -> dict[str, tuple[datetime, str | None]]:
    """Parse ``lastlog`` (shadow-utils) into user -> (latest login, source).

    Columns are found from the header line, since the port and source may
    be blank. Users shown as ``**Never logged in**`` are left out.
    """
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Username"):
        return {}
    header = lines[0]
    port_at, from_at = header.find("Port"), header.find("From")
    found: dict[str, tuple[datetime, str | None]] = {}
    for line in lines[1:]:
        if "**Never logged in**" in line or not line.strip():
            continue
        name = line.split()[0]
        date = _LASTLOG_DATE.search(line)
        if date is None:
            continue
        # A user name longer than its column pushes the rest to the right.
        shift = max(0, len(name) - port_at + 1)
        source = line[from_at + shift : date.start()].strip() or None
        when = _parse_lastlog_time(date.group())
        if when is not None:
            found[name] = (when, source)
    return found


_LASTLOG_DATE = re.compile(
    r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [+-]\d{4} \d{4}\s*$"
)


def _parse_lastlog_time(text: str) -> datetime | None:
    # "Fri Dec  4 16:37:58 +0000 2026"
    try:
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def build_users(
    passwd: Iterable[PasswdEntry],
    groups: dict[str, tuple[int, list[str]]],
    *,
    shadow: dict[str, ShadowEntry] | None = None,
    sudoers: tuple[set[str], set[str]] | None = None,
    today: int | None = None,
    uid_min: int = 1000,
) -> list[UserInfo]:
    """Join passwd, group, shadow and sudoers data into `UserInfo` records.

    Parameters
    ----------
    shadow, sudoers
        ``None`` when they could not be read: ``locked``, ``has_password``
        and (without sudoers) ``sudo`` stay ``None``... except that
        membership of a sudo group still counts as sudo rights.
    today
        Days since 1970 on the instance, to tell expired accounts.
    """
    by_gid = {gid: name for name, (gid, _members) in groups.items()}
    # Without the sudoers, membership of the usual sudo groups still tells.
    sudo_users, sudo_groups = (
        sudoers if sudoers is not None else (set(), set(SUDO_GROUPS))
    )
    users = []
    for entry in passwd:
        primary = by_gid.get(entry.gid, str(entry.gid))
        member_of = [
            g for g, (_gid, members) in groups.items() if entry.name in members
        ]
        all_groups = [primary, *[g for g in member_of if g != primary]]
        in_sudo_group = any(g in sudo_groups for g in all_groups)
        sudo: bool | None = entry.uid == 0 or entry.name in sudo_users or in_sudo_group
        if sudoers is None and not sudo:
            sudo = None
        user = UserInfo(
            name=entry.name,
            uid=entry.uid,
            gid=entry.gid,
            comment=entry.comment,
            home=entry.home,
            shell=entry.shell,
            groups=all_groups,
            primary_group=primary,
            sudo=sudo,
            system=0 < entry.uid < uid_min or entry.uid >= 65534,
        )
        if shadow is not None and entry.name in shadow:
            found = shadow[entry.name]
            expired = (
                found.expire_day is not None
                and today is not None
                and found.expire_day <= today
            )
            user.has_password = found.has_password
            user.locked = found.password_locked or expired
        users.append(user)
    return users


# -- logons ---------------------------------------------------------------


def parse_last(
    text: str,
    *,
    failed: bool = False,
    now: datetime | None = None,
    origin: str | None = None,
) -> list[LogonRecord]:
    """Parse ``last``, ``lastb`` or ``wtmpdb last`` output into records, newest first.

    Reads util-linux's and wtmpdb's ``--time-format iso`` and ``-F`` forms
    (wtmpdb prints the same columns, its offsets without a colon), the
    short form without a year (BusyBox, plain ``last``), and ``-x`` records
    (``reboot`` or wtmpdb's ``soft-reboot``, ``shutdown``, ``runlevel``).
    Years missing from the short form are taken from *now*, stepping back
    a year where the date would be in the future. Footer lines (``wtmp
    begins ...``, ``wtmpdb begins ...``) are skipped.

    BusyBox ``last`` prints a 32-character name with no end mark, so the
    host runs into it (``name32::1``); such names are cut back to 32.

    *origin* names the source in the records (default ``wtmp``, or
    ``btmp`` when *failed*).
    """
    records = []
    for line in text.splitlines():
        if not line.strip() or re.match(r"^\s*[bw]tmp(db)? begins", line):
            continue
        match = _LAST_LINE.match(line.rstrip())
        if match is None or match["user"] in ("USER",):
            continue
        record = _last_record(match, failed=failed, now=now)
        if record is not None:
            if origin is not None:
                record.origin = origin
            records.append(record)
    return records


# utmp's ut_user field: 32 bytes, not always NUL-terminated.
_UT_NAMESIZE = 32


def _last_record(
    match: re.Match[str], *, failed: bool, now: datetime | None
) -> LogonRecord | None:
    start = parse_when(match["start"], now=now)
    if start is None:
        return None
    user, tty = match["user"], match["tty"]
    host = (match["host"] or "").strip() or None
    if (
        len(user) > _UT_NAMESIZE
        and host
        and user[_UT_NAMESIZE:] == host[: len(user) - _UT_NAMESIZE]
    ):
        user = user[:_UT_NAMESIZE]
    kind = "failed" if failed else "login"
    if tty == "system boot" and user in ("reboot", "soft-reboot"):
        kind = "reboot"
    elif user == "shutdown" and tty == "system down":
        kind = "shutdown"
    elif user == "runlevel" or tty.startswith("(to lvl"):
        kind = "runlevel"
    if kind in ("reboot", "shutdown", "runlevel") or host in ("0.0.0.0", "::"):
        # For boot records the host column holds the kernel version.
        source = None
    else:
        source = host
    record = LogonRecord(
        user=user,
        terminal=tty,
        source=source,
        start=start,
        kind=kind,
        origin="btmp" if failed else "wtmp",
    )
    _apply_rest(record, match["rest"], now=now)
    if kind not in ("login", "failed") and host and host != "0.0.0.0":
        record.source = None
    return record


def _apply_rest(record: LogonRecord, rest: str, *, now: datetime | None) -> None:
    duration = _DURATION.search(rest)
    if duration is not None:
        days = int(duration["days"] or 0)
        record.duration = float(
            days * 86400 + int(duration["h"]) * 3600 + int(duration["m"]) * 60
        )
        rest = rest[: duration.start()].strip()
    rest = rest.strip()
    # util-linux prints "  still logged in", wtmpdb "- still logged in".
    dashed = rest.startswith("-")
    tail = rest[1:].strip() if dashed else rest
    if tail.startswith(("still logged in", "still running")):
        record.still_logged_in = True
    elif tail.startswith("gone"):
        record.ended = "gone"
    elif dashed:
        if tail in ("down", "crash"):
            record.ended = tail
        elif re.fullmatch(r"\d\d:\d\d", tail):
            # Plain `last` gives only the time of day of the end.
            end = record.start.replace(
                hour=int(tail[:2]), minute=int(tail[3:]), second=0, microsecond=0
            )
            record.end = (
                end
                if end >= record.start.replace(second=0)
                else end + timedelta(days=1)
            )
            record.ended = "logout"
        else:
            record.end = parse_when(tail, now=now, after=record.start)
            record.ended = "logout" if record.end is not None else None
    if record.end is not None and record.duration is None:
        record.duration = (record.end - record.start).total_seconds()
    elif record.end is not None:
        record.duration = max(
            record.duration or 0.0, (record.end - record.start).total_seconds()
        )


def parse_when(
    text: str, *, now: datetime | None = None, after: datetime | None = None
) -> datetime | None:
    """Parse a timestamp in the ISO, ``-F`` or short (yearless) ``last`` forms.

    ISO times keep their offset; the others are the instance's local time
    and come back without a timezone.
    """
    text = " ".join(text.split())
    if re.fullmatch(_ISO, text):
        text = text.replace(",", ".")
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    for form in ("%a %b %d %H:%M:%S %Y", "%b %d %H:%M:%S %Y"):
        try:
            return datetime.strptime(text, form)
        except ValueError:
            pass
    words = text.split()
    if words and words[0] not in _MONTHS:
        words = words[1:]
    if len(words) != 3 or words[0] not in _MONTHS:
        return None
    reference = after or now or datetime.now()
    year = reference.year
    try:
        when = datetime.strptime(f"{year} {' '.join(words)}", "%Y %b %d %H:%M")
    except ValueError:
        return None
    reference_naive = reference.replace(tzinfo=None)
    if after is not None and when < reference_naive - timedelta(days=1):
        when = when.replace(year=year + 1)
    elif after is None and when > reference_naive + timedelta(days=1):
        when = when.replace(year=year - 1)
    return when


# BusyBox who: "name  pts/0  00:00  Dec  4 18:53:18  127.0.0.1" (idle, then
# the login time with seconds, then the host without parentheses).
_BUSYBOX_WHO = re.compile(
    r"^(?P<user>\S+)\s+(?P<tty>\S+)\s+(?P<idle>\d+:\d\d|old|\?|\.)\s+"
    r"(?P<when>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)(?:\s+(?P<host>\S+))?\s*$"
)


def parse_who(text: str, *, now: datetime | None = None) -> list[CurrentSession]:
    """Parse ``who``: coreutils (``user tty 2026-12-04 16:37 (host)``) or BusyBox.

    BusyBox's lines carry no year: it is taken from *now*. Its 32-character
    names run into the host, as in `parse_last`, and are cut back.
    """
    sessions = []
    reference = (now or datetime.now()).replace(tzinfo=None)
    for line in text.splitlines():
        busybox = _BUSYBOX_WHO.match(line.strip())
        if busybox is None:
            continue
        when = " ".join(busybox["when"].split())
        started = datetime.strptime(f"{reference.year} {when}", "%Y %b %d %H:%M:%S")
        if started > reference + timedelta(days=1):
            started = started.replace(year=started.year - 1)
        user, host = busybox["user"], busybox["host"]
        if len(user) > _UT_NAMESIZE and host and host.startswith(user[_UT_NAMESIZE:]):
            user = user[:_UT_NAMESIZE]
        sessions.append(CurrentSession(user, busybox["tty"], started, host))
    if sessions:
        return sessions
    pattern = re.compile(
        r"^(?P<user>\S+)\s+(?P<tty>\S+)\s+"
        r"(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d)"
        r"(?:\s+(?P<idle>\d+:\d\d|\.|old))?(?:\s+(?P<pid>\d+))?"
        r"\s*(?:\((?P<host>[^)]*)\))?\s*$"
    )
    for line in text.splitlines():
        match = pattern.match(line.strip())
        if match is None:
            continue
        when = match["when"]
        since = (
            datetime.strptime(when, "%Y-%m-%d %H:%M")
            if when[0].isdigit()
            else parse_when(when)
        )
        host = (match["host"] or "").strip() or None
        sessions.append(CurrentSession(match["user"], match["tty"], since, host))
    return sessions


# BusyBox syslogd (Alpine) puts the facility and level after the host:
# "Dec  4 18:53:11 vm auth.info sshd-session[27464]: ...".
_AUTH_LINE = re.compile(
    rf"^(?P<when>{_ISO}|[A-Z][a-z]{{2}} [ \d]\d \d\d:\d\d:\d\d)\s+\S+\s+"
    r"(?:[a-z0-9]+\.[a-z]+\s+)?"
    r"sshd(?:-session|-auth)?\[(?P<pid>\d+)\]:\s+(?P<msg>.*)$"
)
_ACCEPTED = re.compile(
    r"^Accepted (?P<method>\S+) for (?P<user>\S+) from (?P<source>\S+) port \d+"
)
_FAILED = re.compile(
    r"^(?:Failed (?P<method>\S+) for (?:invalid user )?(?P<user>\S+)"
    r"|Invalid user (?P<invalid>\S*)) from (?P<source>\S+) port \d+"
)


def parse_auth_log(text: str, *, now: datetime | None = None) -> list[LogonRecord]:
    """Parse sshd lines of an auth log or ``journalctl -o short-iso``.

    ``Accepted ...`` lines become ``login`` records and ``Failed ...`` or
    ``Invalid user ...`` lines ``failed`` ones; other lines are skipped.
    sshd logs an unknown user twice (``Invalid user X`` and then ``Failed
    password for invalid user X``, same process): that is one failure.
    The log has no session ends, so ``end`` stays ``None``. Newest first.
    Reads the plain syslog layout, BusyBox syslogd's (with ``auth.info``)
    and ``journalctl -o short-iso``; OpenSSH 10 logs as ``sshd-session``.
    """
    matches = [_AUTH_LINE.match(line.strip()) for line in text.splitlines()]
    failed_pids = {
        (m["pid"], f["user"])
        for m in matches
        if m is not None and (f := _FAILED.match(m["msg"])) and f["user"]
    }
    records = []
    for match in matches:
        if match is None:
            continue
        invalid = _FAILED.match(match["msg"])
        if (
            invalid is not None
            and invalid["invalid"]
            and (match["pid"], invalid["invalid"]) in failed_pids
        ):
            continue
        start = _auth_time(match["when"], now)
        if start is None:
            continue
        msg = match["msg"]
        accepted, failed = _ACCEPTED.match(msg), _FAILED.match(msg)
        if accepted is not None:
            records.append(
                LogonRecord(
                    accepted["user"],
                    "ssh",
                    accepted["source"],
                    start,
                    origin="auth-log",
                )
            )
        elif failed is not None:
            user = failed["user"] or failed["invalid"] or ""
            records.append(
                LogonRecord(
                    user,
                    "ssh",
                    failed["source"],
                    start,
                    kind="failed",
                    origin="auth-log",
                )
            )
    records.reverse()
    return records


def _auth_time(text: str, now: datetime | None) -> datetime | None:
    if text[0].isdigit():
        return parse_when(text)
    reference = now or datetime.now()
    try:
        when = datetime.strptime(f"{reference.year} {text}", "%Y %b %d %H:%M:%S")
    except ValueError:
        return None
    if when > reference.replace(tzinfo=None) + timedelta(days=1):
        when = when.replace(year=reference.year - 1)
    return when


# -- services -------------------------------------------------------------


def parse_systemctl_units(text: str) -> list[ServiceInfo]:
    """Parse ``systemctl list-units`` as JSON (``--output=json``) or plain.

    systemd before v246 ignores ``--output=json`` for list commands and
    prints the table, so both are read; the plain form may carry a ``●``
    mark on failed or not-found units.
    """
    stripped = text.strip()
    if stripped.startswith("["):
        return [
            ServiceInfo(
                name=u["unit"],
                active=u.get("active", ""),
                sub=u.get("sub", ""),
                load=u.get("load", ""),
                description=u.get("description", ""),
            )
            for u in json.loads(stripped)
        ]
    services = []
    for line in stripped.splitlines():
        words = line.replace("●", " ").replace("*", " ", 1).split(None, 4)
        if len(words) < 4 or "." not in words[0] or words[0] == "UNIT":
            continue
        services.append(
            ServiceInfo(
                name=words[0],
                load=words[1],
                active=words[2],
                sub=words[3],
                description=words[4] if len(words) > 4 else "",
            )
        )
    return services


def parse_unit_files(text: str) -> dict[str, str]:
    """Parse ``systemctl list-unit-files`` (JSON or plain) into unit -> state."""
    stripped = text.strip()
    if stripped.startswith("["):
        return {u["unit_file"]: u["state"] for u in json.loads(stripped)}
    states = {}
    for line in stripped.splitlines():
        words = line.split()
        if len(words) >= 2 and "." in words[0] and words[0] != "UNIT":
            states[words[0]] = words[1]
    return states


def merge_units(units: list[ServiceInfo], files: dict[str, str]) -> list[ServiceInfo]:
    """Add each unit's enablement, and list unit files that are not loaded.

    Instances of a template (``getty@tty1.service``) take the template's
    state when they have no file of their own.
    """
    seen = set()
    for unit in units:
        template = re.sub(r"@[^.]*\.", "@.", unit.name)
        unit.enabled = files.get(unit.name) or files.get(template)
        seen.add(unit.name)
    for name, state in files.items():
        if name in seen or name.endswith("@.service"):
            continue
        units.append(
            ServiceInfo(name=name, active="inactive", sub="dead", enabled=state)
        )
    return sorted(units, key=lambda u: u.name)


_LSB_STATUS = {0: "active", 1: "failed", 2: "failed", 3: "inactive"}


def parse_sysv(status_lines: str, rc_links: str) -> list[ServiceInfo]:
    """Build SysV services from ``NAME EXIT`` status lines and rc?.d listings.

    *status_lines* has one ``name status`` pair per init script, the exit
    status of ``/etc/init.d/NAME status`` (LSB: 0 running, 3 stopped, 1-2
    dead with a pid file left, 4 unknown). *rc_links* is ``@@/etc/rcN.d``
    headers each followed by that folder's entries; a service with an
    ``S`` link in runlevels 2-5 is ``enabled``.
    """
    starts, seen_anywhere = _rc_links(rc_links)
    services = []
    for line in status_lines.splitlines():
        words = line.split()
        if len(words) != 2 or not words[1].lstrip("-").isdigit():
            continue
        name, code = words[0], int(words[1])
        enabled: str | None
        if name in starts:
            enabled = "enabled"
        elif name in seen_anywhere:
            enabled = "disabled"
        else:
            enabled = None if not rc_links.strip() else "disabled"
        services.append(
            ServiceInfo(
                name=name,
                active=_LSB_STATUS.get(code, "unknown"),
                sub={0: "running", 3: "dead"}.get(code, f"status {code}"),
                enabled=enabled,
                manager="sysv",
            )
        )
    return sorted(services, key=lambda s: s.name)


def _rc_links(text: str) -> tuple[set[str], set[str]]:
    starts: set[str] = set()
    anywhere: set[str] = set()
    level = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("@@"):
            level = line[-3:-2] if line.endswith(".d") else ""
            continue
        match = re.fullmatch(r"([SK])\d\d(.+)", line)
        if match is None:
            continue
        anywhere.add(match[2])
        if match[1] == "S" and level in "2345" and level:
            starts.add(match[2])
    return starts, anywhere


def parse_service_status_all(text: str) -> dict[str, str]:
    """Parse Debian's ``service --status-all`` (``[ + ]  name``)."""
    marks = {"+": "active", "-": "inactive", "?": "unknown"}
    found = {}
    for line in text.splitlines():
        match = re.match(r"^\s*\[\s*([+?-])\s*\]\s+(\S+)", line)
        if match:
            found[match[2]] = marks[match[1]]
    return found


def parse_openrc(status: str, update_show: str) -> list[ServiceInfo]:
    """Parse OpenRC's ``rc-status --all`` and ``rc-update show -v``.

    ``rc-status`` lines are `` name   [  started  ]``; ``rc-update`` lines
    are `` name | default boot`` (runlevels after the bar, empty when the
    service is in none).
    """
    states = {}
    for line in status.splitlines():
        match = re.match(r"^\s*(\S+)\s+\[\s*([a-z ]+?)\s*\]", line)
        if match and not line.startswith("Runlevel"):
            states[match[1]] = match[2]
    levels = {}
    for line in update_show.splitlines():
        name, bar, rest = line.partition("|")
        if bar:
            levels[name.strip()] = rest.split()
    active_of = {"started": "active", "stopped": "inactive", "crashed": "failed"}
    services = []
    for name in sorted(set(states) | set(levels)):
        state = states.get(name, "stopped")
        services.append(
            ServiceInfo(
                name=name,
                active=active_of.get(state, state),
                sub=state,
                enabled="enabled" if levels.get(name) else "disabled",
                description=" ".join(levels.get(name, [])),
                manager="openrc",
            )
        )
    return services


__all__ = [
    "SUDO_GROUPS",
    "PasswdEntry",
    "ShadowEntry",
    "build_users",
    "merge_units",
    "parse_auth_log",
    "parse_group",
    "parse_last",
    "parse_lastlog",
    "parse_openrc",
    "parse_os_release",
    "parse_passwd",
    "parse_service_status_all",
    "parse_shadow",
    "parse_sudoers",
    "parse_systemctl_units",
    "parse_sysv",
    "parse_unit_files",
    "parse_when",
    "parse_who",
]
