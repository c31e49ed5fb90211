"""REST handlers for system management: users, logon history and services of an instance.

Every route is under ``instances/{name}/system``; the gateway checks the
policies (LoginInstance to read, ManageSystem to change) and audits
changes. A sudo password comes in a POST body (``sudo_password``) or is
held once with ``PUT .../system/sudo``; it never goes in a URL.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..gateway.system import LogonFilter, SystemManager, ToolMissing
from ..gateway.system.commands import SERVICE_ACTIONS, USER_ACTIONS
from .base import WorkbenchHandler


class SystemBase(WorkbenchHandler):
    """Shared parsing: which login, which sudo password."""

    def manager(self, name: str, body: dict[str, Any] | None = None) -> SystemManager:
        sudo_password = (body or {}).get("sudo_password")
        if sudo_password is not None and not isinstance(sudo_password, str):
            raise web.HTTPError(400, reason="'sudo_password' must be a string")
        return self.gateway.system(
            self.principal,
            name,
            login_user=self.get_query_argument("login_user", None),
            sudo_password=sudo_password or None,
        )


class SystemHandler(SystemBase):
    """What the instance is: distribution family, init system, tools, rights."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.reply((await self.manager(name).facts()).to_dict())


class SudoPasswordHandler(SystemBase):
    """Hold the sudo password for the principal's login (memory only), or forget it."""

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        password = self.body().get("password")
        if not isinstance(password, str) or not password:
            raise web.HTTPError(400, reason="'password' must be the sudo password")
        login_user = self.get_query_argument("login_user", None)
        self.gateway.set_sudo_password(
            self.principal, name, password, login_user=login_user
        )
        self.set_status(204)
        self.finish()

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        login_user = self.get_query_argument("login_user", None)
        self.gateway.set_sudo_password(
            self.principal, name, None, login_user=login_user
        )
        self.set_status(204)
        self.finish()


class UsersHandler(SystemBase):
    """List the instance's accounts, or add one."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        users = await self.manager(name).users()
        self.reply({"users": [u.to_dict() for u in users]})

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.body()
        groups = body.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise web.HTTPError(400, reason="'groups' must be a list of group names")
        user = await self.manager(name, body).create_user(
            _string(body, "name", required=True) or "",
            home=_flag(body, "home", True),
            shell=_string(body, "shell"),
            groups=groups,
            comment=_string(body, "comment"),
            authorized_key=_string(body, "authorized_key"),
            password=_string(body, "password"),
        )
        self.reply(user.to_dict(), status=201)


class UserHandler(SystemBase):
    """Delete an account (``?remove_home=1`` removes its home as well)."""

    @web.authenticated
    @authorized
    async def delete(self, name: str, user: str) -> None:
        remove_home = self.get_query_argument("remove_home", "0") in ("1", "true")
        body = self.body() if self.request.body else {}
        await self.manager(name, body).delete_user(user, remove_home=remove_home)
        self.set_status(204)
        self.finish()


class UserActionHandler(SystemBase):
    """Lock, unlock, set the password, grant or revoke sudo rights."""

    @web.authenticated
    @authorized
    async def post(self, name: str, user: str, action: str) -> None:
        if action not in USER_ACTIONS:
            raise web.HTTPError(404, reason=f"No user action {action}")
        body = self.body()
        system = self.manager(name, body)
        if action == "lock":
            result = await system.lock_user(user)
        elif action == "unlock":
            result = await system.unlock_user(user)
        elif action == "password":
            await system.set_password(
                user, _string(body, "password", required=True) or ""
            )
            self.set_status(204)
            self.finish()
            return
        else:
            result = await system.set_sudo(user, grant=action == "grant-sudo")
        self.reply(result.to_dict())


class LogonsHandler(SystemBase):
    """The logon history (filtered) and who is logged in now."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        where = LogonFilter(
            user=self.get_query_argument("user", None) or None,
            source=self.get_query_argument("source", None) or None,
            since=_when(self.get_query_argument("since", None), "since"),
            until=_when(self.get_query_argument("until", None), "until"),
            failed=self.get_query_argument("failed", "1") not in ("0", "false"),
            limit=_limit(self.get_query_argument("limit", "1000")),
        )
        system = self.manager(name)
        records = await system.logons(where)
        try:
            sessions: list[dict[str, Any]] | None = [
                s.to_dict() for s in await system.sessions()
            ]
        except ToolMissing:
            sessions = None
        self.reply({"records": [r.to_dict() for r in records], "sessions": sessions})


class ServicesHandler(SystemBase):
    """The instance's services with their state and boot setting."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        services = await self.manager(name).services()
        self.reply({"services": [s.to_dict() for s in services]})


class ServiceHandler(SystemBase):
    """One service's status text and its latest log lines (``?lines=50``)."""

    @web.authenticated
    @authorized
    async def get(self, name: str, service: str) -> None:
        lines = _limit(self.get_query_argument("lines", "50"), most=1000)
        status = await self.manager(name).service_status(service, lines=lines)
        self.reply(status.to_dict())


class ServiceActionHandler(SystemBase):
    """Start, stop, restart, reload, enable or disable a service."""

    @web.authenticated
    @authorized
    async def post(self, name: str, service: str, action: str) -> None:
        if action not in SERVICE_ACTIONS:
            raise web.HTTPError(404, reason=f"No service action {action}")
        body = self.body()
        result = await self.manager(name, body).service_action(service, action)
        self.reply(result.to_dict())


def routes(api: str, name: str) -> list[tuple[str, type[WorkbenchHandler]]]:
    """Return the system routes under ``{api}/instances/{name}/system``."""
    base = f"{api}/instances/{name}/system"
    user = r"(?P<user>[^/]+)"
    service = r"(?P<service>[^/]+)"
    return [
        (base, SystemHandler),
        (f"{base}/sudo", SudoPasswordHandler),
        (f"{base}/users", UsersHandler),
        (f"{base}/users/{user}", UserHandler),
        (f"{base}/users/{user}/(?P<action>[a-z-]+)", UserActionHandler),
        (f"{base}/logons", LogonsHandler),
        (f"{base}/services", ServicesHandler),
        (f"{base}/services/{service}", ServiceHandler),
        (f"{base}/services/{service}/(?P<action>[a-z]+)", ServiceActionHandler),
    ]


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise web.HTTPError(400, reason=f"'{key}' must be a string")
    return value


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise web.HTTPError(400, reason=f"'{key}' must be true or false")
    return value


def _when(value: str | None, key: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPError(
            400, reason=f"'{key}' must be an ISO 8601 time such as 2024-03-11T09:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _limit(value: str, *, most: int = 100_000) -> int:
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise web.HTTPError(
            400, reason=f"The limit must be a whole number from 1 to {most}"
        )
    return int(value)
