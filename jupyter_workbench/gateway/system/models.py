"""Plain records of system management: users, logons, sessions, services, facts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Record:
    """JSON-ready data of a dataclass record (datetimes as ISO 8601 text)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON data."""
        data: dict[str, Any] = _plain(asdict(self))  # type: ignore[call-overload]
        return data


@dataclass
class UserInfo(Record):
    """One account of the instance.

    ``locked``, ``has_password`` and ``sudo`` are ``None`` when they could
    not be read (no root rights to read ``/etc/shadow`` or the sudoers).
    """

    name: str
    uid: int
    gid: int
    comment: str = ""
    home: str = ""
    shell: str = ""
    groups: list[str] = field(default_factory=list)
    primary_group: str = ""
    locked: bool | None = None
    has_password: bool | None = None
    sudo: bool | None = None
    last_login: datetime | None = None
    last_login_from: str | None = None
    system: bool = False


@dataclass
class LogonRecord(Record):
    """One line of the logon history (wtmp, btmp or an auth log).

    ``kind`` is ``login``, ``failed``, ``reboot``, ``shutdown`` or
    ``runlevel``. ``end`` is ``None`` while ``still_logged_in``, and when
    the session ended without a logout record (``ended`` says how:
    ``logout``, ``gone``, ``down``, ``crash``).
    """

    user: str
    terminal: str
    source: str | None
    start: datetime
    end: datetime | None = None
    duration: float | None = None
    still_logged_in: bool = False
    kind: str = "login"
    ended: str | None = None
    origin: str = "wtmp"


@dataclass
class CurrentSession(Record):
    """A user logged in now, as ``who`` shows it.

    ``origin`` says where it was read: ``utmp`` (``who``), or ``wtmp`` /
    ``wtmpdb`` where ``who`` had nothing to say and the session is a login
    record without an end (a crash can leave such a record behind).
    """

    user: str
    terminal: str
    since: datetime | None
    source: str | None = None
    origin: str = "utmp"


@dataclass
class ServiceInfo(Record):
    """A service with its state and whether it starts at boot.

    ``active`` is ``active``, ``inactive``, ``failed``, ``activating``,
    ``unknown``...; ``sub`` the manager's finer state (``running``,
    ``exited``, ``dead``); ``enabled`` the boot setting as the manager
    names it (``enabled``, ``disabled``, ``static``, ``masked``...) or
    ``None`` when unknown.
    """

    name: str
    active: str
    sub: str = ""
    enabled: str | None = None
    load: str = ""
    description: str = ""
    manager: str = "systemd"


@dataclass
class ServiceStatus(Record):
    """A service's state, the manager's status text and its latest log lines."""

    service: ServiceInfo
    status_text: str
    log: list[str] = field(default_factory=list)


@dataclass
class SystemFacts(Record):
    """What the instance is and has: distribution family, tools, rights."""

    distro: str
    family: str
    pretty_name: str
    uid: int
    login_user: str
    privilege: str
    init: str
    busybox: bool
    tools: dict[str, str] = field(default_factory=dict)
    now: datetime | None = None

    def has(self, tool: str) -> bool:
        """Whether the instance has *tool* on its PATH (sbin included)."""
        return tool in self.tools
