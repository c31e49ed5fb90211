"""System management from notebooks: ``wb.users(...)``, ``wb.logons(...)``, ``wb.services(...)``.

Results are `Table` objects: lists of the gateway's records (`UserInfo`,
`LogonRecord`, `ServiceInfo`) that show as HTML tables in a notebook and
turn into a pandas DataFrame with ``to_dataframe()`` when pandas is
installed. ``wb.system(name)`` has the changes (create, delete, lock,
passwords, sudo rights, service actions); ``wb.aio.system(name)`` is its
async twin.

Both backends speak the same operations: the REST backend maps them to
the routes under ``instances/{name}/system`` (docs/api.md), the in-process
backend calls the gateway's `SystemManager` and returns the same JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import fields
from datetime import datetime
from html import escape
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode

from ..gateway.errors import WorkbenchError
from ..gateway.system import (
    LogonFilter,
    LogonRecord,
    ServiceInfo,
    ServiceStatus,
    SystemManager,
    UserInfo,
)

R = TypeVar("R")
T = TypeVar("T")
Call = Callable[[str, dict[str, Any]], Awaitable[Any]]

_COLUMNS: dict[type, tuple[str, ...]] = {
    UserInfo: (
        "name",
        "uid",
        "groups",
        "shell",
        "home",
        "locked",
        "has_password",
        "sudo",
        "last_login",
    ),
    LogonRecord: (
        "user",
        "terminal",
        "source",
        "start",
        "end",
        "duration",
        "still_logged_in",
        "kind",
    ),
    ServiceInfo: ("name", "active", "sub", "enabled", "description"),
}


class Table(list[R], Generic[R]):
    """Records that show as a table in notebooks; ``to_dataframe()`` for pandas."""

    def to_dataframe(self) -> Any:
        """Return a pandas DataFrame with one row per record (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise WorkbenchError(
                "to_dataframe() needs pandas: pip install pandas"
            ) from None
        return pd.DataFrame([dict(r.__dict__) for r in self])

    def _repr_html_(self) -> str:
        if not self:
            return "<p>(none)</p>"
        first: Any = self[0]
        columns = _COLUMNS.get(type(first), tuple(f.name for f in fields(first)))
        head = "".join(f"<th>{c}</th>" for c in columns)
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{escape(_cell(getattr(r, c)))}</td>" for c in columns)
            + "</tr>"
            for r in self
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class AsyncSystem:
    """Users, logons and services of one instance, as coroutines."""

    def __init__(self, name: str, call: Call) -> None:
        self.name = name
        self._call = call

    async def users(self) -> Table[UserInfo]:
        """Return the instance's accounts."""
        data = await self._call("users", {})
        return Table(_record(UserInfo, u) for u in data["users"])

    async def logons(
        self,
        *,
        user: str | None = None,
        source: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        failed: bool = True,
        limit: int = 1000,
    ) -> Table[LogonRecord]:
        """Return the logon history, newest first (filters as in docs/api.md)."""
        query = {
            "user": user,
            "source": source,
            "since": since.isoformat() if isinstance(since, datetime) else since,
            "until": until.isoformat() if isinstance(until, datetime) else until,
            "failed": "1" if failed else "0",
            "limit": str(limit),
        }
        data = await self._call("logons", {k: v for k, v in query.items() if v})
        return Table(_record(LogonRecord, r) for r in data["records"])

    async def services(self) -> Table[ServiceInfo]:
        """Return the services with state and boot setting."""
        data = await self._call("services", {})
        return Table(_record(ServiceInfo, s) for s in data["services"])

    async def service_status(self, service: str, *, lines: int = 50) -> ServiceStatus:
        """Return a service's status text and latest log lines."""
        data = await self._call("service_status", {"service": service, "lines": lines})
        return ServiceStatus(
            service=_record(ServiceInfo, data["service"]),
            status_text=data["status_text"],
            log=list(data["log"]),
        )

    async def create_user(
        self,
        user: str,
        *,
        home: bool = True,
        shell: str | None = None,
        groups: Sequence[str] = (),
        comment: str | None = None,
        authorized_key: str | None = None,
        password: str | None = None,
    ) -> UserInfo:
        """Add an account (see `SystemManager.create_user`)."""
        body: dict[str, Any] = {"name": user, "home": home, "groups": list(groups)}
        for key, value in (
            ("shell", shell),
            ("comment", comment),
            ("authorized_key", authorized_key),
            ("password", password),
        ):
            if value is not None:
                body[key] = value
        return _record(UserInfo, await self._call("create_user", body))

    async def delete_user(self, user: str, *, remove_home: bool = False) -> None:
        """Remove an account, keeping its home unless *remove_home*."""
        await self._call("delete_user", {"user": user, "remove_home": remove_home})

    async def lock_user(self, user: str) -> UserInfo:
        """Lock an account: no password or key logins."""
        return await self._user_action(user, "lock")

    async def unlock_user(self, user: str) -> UserInfo:
        """Unlock an account."""
        return await self._user_action(user, "unlock")

    async def set_password(self, user: str, password: str) -> None:
        """Set an account's password."""
        await self._call(
            "user_action", {"user": user, "action": "password", "password": password}
        )

    async def grant_sudo(self, user: str) -> UserInfo:
        """Add the user to the sudo (or wheel) group."""
        return await self._user_action(user, "grant-sudo")

    async def revoke_sudo(self, user: str) -> UserInfo:
        """Remove the user from the sudo (or wheel) group."""
        return await self._user_action(user, "revoke-sudo")

    async def service_action(self, service: str, action: str) -> ServiceInfo:
        """Start, stop, restart, reload, enable or disable a service."""
        data = await self._call(
            "service_action", {"service": service, "action": action}
        )
        return _record(ServiceInfo, data)

    async def set_sudo_password(self, password: str | None) -> None:
        """Hold the sudo password for your login on the instance (None forgets)."""
        await self._call("sudo_password", {"password": password})

    async def _user_action(self, user: str, action: str) -> UserInfo:
        data = await self._call("user_action", {"user": user, "action": action})
        return _record(UserInfo, data)


class System:
    """Users, logons and services of one instance (``wb.system("web-1")``).

    The same methods as `AsyncSystem`, blocking until the answer is there.
    """

    def __init__(
        self, aio: AsyncSystem, run: Callable[[Coroutine[Any, Any, Any]], Any]
    ) -> None:
        self.aio = aio
        self._run = run

    def __getattr__(self, attr: str) -> Any:
        method = getattr(self.aio, attr)
        if not callable(method) or attr.startswith("_"):
            return method

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._run(method(*args, **kwargs))

        blocking.__doc__ = method.__doc__
        blocking.__name__ = attr
        return blocking

    def __dir__(self) -> list[str]:
        return sorted(
            {
                *super().__dir__(),
                *(a for a in dir(AsyncSystem) if not a.startswith("_")),
            }
        )


# -- the two backends' side ---------------------------------------------


def rest_request(name: str, op: str, args: dict[str, Any]) -> tuple[str, str, Any]:
    """Return (method, path under the API, body) for a system operation."""
    base = f"instances/{quote(name)}/system"
    if op in ("users", "services"):
        return "GET", f"{base}/{op}", None
    if op == "facts":
        return "GET", base, None
    if op == "logons":
        return "GET", f"{base}/logons?{urlencode(args)}", None
    if op == "service_status":
        query = urlencode({"lines": args["lines"]})
        return "GET", f"{base}/services/{quote(args['service'])}?{query}", None
    if op == "create_user":
        return "POST", f"{base}/users", args
    if op == "delete_user":
        remove = "1" if args["remove_home"] else "0"
        return (
            "DELETE",
            f"{base}/users/{quote(args['user'])}?remove_home={remove}",
            None,
        )
    if op == "user_action":
        body = {"password": args["password"]} if "password" in args else {}
        return "POST", f"{base}/users/{quote(args['user'])}/{args['action']}", body
    if op == "service_action":
        return "POST", f"{base}/services/{quote(args['service'])}/{args['action']}", {}
    if op == "sudo_password":
        if args["password"] is None:
            return "DELETE", f"{base}/sudo", None
        return "PUT", f"{base}/sudo", {"password": args["password"]}
    raise ValueError(f"Unknown system operation {op}")


async def local_call(system: SystemManager, op: str, args: dict[str, Any]) -> Any:
    """Run a system operation on an in-process gateway; answer as REST would."""
    if op == "facts":
        return (await system.facts()).to_dict()
    if op == "users":
        return {"users": [u.to_dict() for u in await system.users()]}
    if op == "services":
        return {"services": [s.to_dict() for s in await system.services()]}
    if op == "logons":
        where = LogonFilter(
            user=args.get("user"),
            source=args.get("source"),
            since=_parse(args.get("since")),
            until=_parse(args.get("until")),
            failed=args.get("failed", "1") == "1",
            limit=int(args.get("limit", 1000)),
        )
        return {"records": [r.to_dict() for r in await system.logons(where)]}
    if op == "service_status":
        return (
            await system.service_status(args["service"], lines=args["lines"])
        ).to_dict()
    if op == "create_user":
        body = dict(args)
        user = await system.create_user(body.pop("name"), **body)
        return user.to_dict()
    if op == "delete_user":
        await system.delete_user(args["user"], remove_home=args["remove_home"])
        return None
    if op == "user_action":
        return await _local_user_action(system, args)
    if op == "service_action":
        return (await system.service_action(args["service"], args["action"])).to_dict()
    raise ValueError(f"Unknown system operation {op}")


async def _local_user_action(system: SystemManager, args: dict[str, Any]) -> Any:
    user, action = args["user"], args["action"]
    if action == "password":
        await system.set_password(user, args["password"])
        return None
    if action in ("lock", "unlock"):
        done = await (
            system.lock_user(user) if action == "lock" else system.unlock_user(user)
        )
    else:
        done = await system.set_sudo(user, grant=action == "grant-sudo")
    return done.to_dict()


def _record(kind: type[T], data: dict[str, Any]) -> T:
    known = {f.name: f for f in fields(kind)}  # type: ignore[arg-type]
    values = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key in ("start", "end", "since", "last_login") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        values[key] = value
    return kind(**values)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


__all__ = ["AsyncSystem", "System", "Table", "local_call", "rest_request"]
