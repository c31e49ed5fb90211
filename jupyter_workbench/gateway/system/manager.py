"""`SystemManager`: users, logons and services of one instance, with a change hook.

Reading (lists, status) goes straight to the instance. Every change
(create, delete, lock, password, sudo, service actions) first awaits the
gateway's ``before_change`` hook, which checks the access policies and may
refuse, and then reports its outcome to ``after_change``, which writes the
audit record. Neither hook ever sees a password or a key: only the action
and plain details such as the user or service name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ..policy import LOGIN, MANAGE_SYSTEM
from . import commands, logons, services, users
from .errors import SystemInputError
from .logons import LogonFilter
from .models import (
    CurrentSession,
    LogonRecord,
    ServiceInfo,
    ServiceStatus,
    SystemFacts,
    UserInfo,
)
from .shell import RemoteShell

T = TypeVar("T")

#: The policy action that reading users, logons and services needs: what a
#: login can see anyway.
READ_ACTION = LOGIN
#: The policy action that every change needs.
CHANGE_ACTION = MANAGE_SYSTEM

#: ``before_change(action, details)``: raise to refuse (e.g. `PolicyDenied`).
BeforeChange = Callable[[str, dict[str, Any]], Awaitable[None]]
#: ``after_change(action, details, outcome)`` with outcome ``ok`` or ``failed``.
AfterChange = Callable[[str, dict[str, Any], str], Awaitable[None]]


async def _no_check(action: str, details: dict[str, Any]) -> None:
    return None


async def _no_record(action: str, details: dict[str, Any], outcome: str) -> None:
    return None


class SystemManager:
    """System management of one instance through one principal's login.

    Parameters
    ----------
    shell
        Runs the commands (as root through sudo where needed).
    before_change, after_change
        The policy check and the audit record of every change.
    """

    def __init__(
        self,
        shell: RemoteShell,
        *,
        before_change: BeforeChange = _no_check,
        after_change: AfterChange = _no_record,
    ) -> None:
        self.shell = shell
        self._before = before_change
        self._after = after_change

    async def facts(self) -> SystemFacts:
        """Return the distribution family, init system, tools and rights."""
        return await self.shell.facts()

    # -- reading ----------------------------------------------------------

    async def users(self) -> list[UserInfo]:
        """Return every account (see `users.list_users`)."""
        return await users.list_users(self.shell)

    async def logons(self, where: LogonFilter | None = None) -> list[LogonRecord]:
        """Return the logon history, newest first (see `logons.logons`)."""
        return await logons.logons(self.shell, where)

    async def sessions(self) -> list[CurrentSession]:
        """Return who is logged in now."""
        return await logons.current_sessions(self.shell)

    async def services(self) -> list[ServiceInfo]:
        """Return every service with state and boot setting."""
        return await services.list_services(self.shell)

    async def service_status(self, name: str, *, lines: int = 50) -> ServiceStatus:
        """Return a service's status text and latest log lines."""
        return await services.service_status(self.shell, name, lines=lines)

    # -- changing ---------------------------------------------------------

    async def create_user(
        self,
        name: str,
        *,
        home: bool = True,
        shell: str | None = None,
        groups: Sequence[str] = (),
        comment: str | None = None,
        authorized_key: str | None = None,
        password: str | None = None,
    ) -> UserInfo:
        """Add an account (see `users.create_user`)."""
        details = {
            "user": name,
            "home": home,
            "shell": shell,
            "groups": list(groups),
            "with_key": authorized_key is not None,
            "with_password": password is not None,
        }
        return await self._change(
            "user_create",
            details,
            users.create_user(
                self.shell,
                name,
                home=home,
                shell_path=shell,
                groups=groups,
                comment=comment,
                authorized_key=authorized_key,
                password=password,
            ),
        )

    async def delete_user(self, name: str, *, remove_home: bool = False) -> None:
        """Remove an account, keeping its home unless *remove_home*."""
        await self._change(
            "user_delete",
            {"user": name, "remove_home": remove_home},
            users.delete_user(self.shell, name, remove_home=remove_home),
        )

    async def lock_user(self, name: str) -> UserInfo:
        """Lock an account: no password or key logins."""
        return await self._change(
            "user_lock", {"user": name}, users.lock_user(self.shell, name, lock=True)
        )

    async def unlock_user(self, name: str) -> UserInfo:
        """Unlock an account locked with `lock_user`."""
        return await self._change(
            "user_unlock", {"user": name}, users.lock_user(self.shell, name, lock=False)
        )

    async def set_password(self, name: str, password: str) -> None:
        """Set an account's password."""
        await self._change(
            "user_password",
            {"user": name},
            users.set_password(self.shell, name, password),
        )

    async def set_sudo(self, name: str, *, grant: bool) -> UserInfo:
        """Add the user to the sudo (or wheel) group, or remove it."""
        action = "user_sudo_grant" if grant else "user_sudo_revoke"
        return await self._change(
            action, {"user": name}, users.set_sudo(self.shell, name, grant=grant)
        )

    async def service_action(self, name: str, action: str) -> ServiceInfo:
        """Start, stop, restart, reload, enable or disable a service."""
        if action not in commands.SERVICE_ACTIONS:
            raise SystemInputError(
                f"Unknown service action {action!r}: use one of "
                + ", ".join(commands.SERVICE_ACTIONS)
            )
        return await self._change(
            f"service_{action}",
            {"service": name},
            services.service_action(self.shell, name, action),
        )

    async def _change(
        self, action: str, details: dict[str, Any], work: Awaitable[T]
    ) -> T:
        try:
            await self._before(action, details)
        except BaseException:
            _close(work)
            raise
        try:
            result = await work
        except BaseException:
            await self._after(action, details, "failed")
            raise
        await self._after(action, details, "ok")
        return result


def _close(work: Awaitable[object]) -> None:
    close = getattr(work, "close", None)
    if close is not None:
        close()  # a coroutine that will never run: no "never awaited" warning


__all__ = [
    "CHANGE_ACTION",
    "READ_ACTION",
    "AfterChange",
    "BeforeChange",
    "SystemManager",
]
