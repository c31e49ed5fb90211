"""Run system commands on an instance over the principal's pooled login, as root when asked.

Every command is a POSIX ``sh`` script passed as one quoted argument to
``sh -c`` (so the login shell's own syntax never matters), with a PATH
that includes the sbin folders and ``LC_ALL=C`` so that output is in the
form the parsers read. Root commands run directly when the login user is
root; otherwise through sudo:

- ``sudo -n`` when sudo needs no password (NOPASSWD);
- ``sudo -k -S -p ''`` with the sudo password written as the first line of
  stdin otherwise. ``-k`` makes sudo ask every time, so the password line
  is always consumed by sudo and never reaches the command; ``-p ''``
  keeps the prompt out of stderr. The password is checked once with
  ``true`` before the first real command, so that a wrong password cannot
  make sudo read the command's own input as further attempts.

The password is held in memory only; it is never logged or put on a
command line.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass

import asyncssh

from ..errors import SSHError
from ..pool import ConnectionPool
from .detect import DETECT_SCRIPT, PATH, parse_facts
from .errors import SudoDenied, SudoRequired, SystemCommandFailed
from .models import SystemFacts

log = logging.getLogger(__name__)

PROLOGUE = f"PATH={PATH}; export PATH; LC_ALL=C; export LC_ALL; "

_WRONG_PASSWORD = ("incorrect password", "Sorry, try again", "Authentication failure")
_NO_RIGHTS = ("not in the sudoers", "may not run sudo", "is not allowed to execute")


@dataclass
class CommandResult:
    """What a remote command returned, like `subprocess.CompletedProcess`."""

    exit_status: int
    stdout: str
    stderr: str


class RemoteShell:
    """Commands on one instance with one principal's login.

    Parameters
    ----------
    pool
        The gateway's connection pool.
    principal, instance
        Whose login, on which instance.
    login_user
        Picks the login when the principal has several on the instance.
    sudo_password
        The password sudo asks for; ``None`` when none was given.
    timeout
        Seconds a single command may run.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        principal: str,
        instance: str,
        *,
        login_user: str | None = None,
        sudo_password: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.pool = pool
        self.principal = principal
        self.instance = instance
        self.login_user = login_user
        self._sudo_password = sudo_password
        self._sudo_checked = False
        self.timeout = timeout
        self._facts: SystemFacts | None = None

    def __repr__(self) -> str:
        return f"<RemoteShell {self.principal} on {self.instance}>"

    async def facts(self) -> SystemFacts:
        """Detect (once) what the instance is and which tools it has."""
        if self._facts is None:
            result = await self._exec(DETECT_SCRIPT, None)
            self._facts = parse_facts(result.stdout)
            log.debug(
                "Detected %s (%s, init %s, privilege %s) on %s",
                self._facts.distro,
                self._facts.family,
                self._facts.init,
                self._facts.privilege,
                self.instance,
            )
        return self._facts

    async def can_be_root(self) -> bool:
        """Whether root commands can run: as root, or sudo with what was given."""
        facts = await self.facts()
        if facts.privilege in ("root", "sudo"):
            return True
        return facts.privilege == "sudo-password" and self._sudo_password is not None

    async def run(
        self,
        script: str,
        *,
        stdin: str | None = None,
        root: bool = False,
        check: bool = True,
        what: str = "",
    ) -> CommandResult:
        """Run *script* with ``sh``; as root (directly or via sudo) when *root*.

        Parameters
        ----------
        stdin
            Text for the script's stdin (a new password, a key): never on
            the command line, where ``ps`` would show it.
        check
            Raise `SystemCommandFailed` on a non-zero exit status.
        what
            Says what the command does, for the error message.

        Raises
        ------
        SudoRequired
            When root is needed and sudo asks for a password not given.
        SudoDenied
            When sudo refuses (wrong password, no rights, not installed).
        SystemCommandFailed
            When *check* and the script fails, or it times out.
        """
        if not root:
            result = await self._exec(script, stdin)
        else:
            command, stdin = await self._as_root(script, stdin)
            result = await self._exec(None, stdin, command=command)
            _raise_for_sudo(result, self.instance)
        if check and result.exit_status != 0:
            raise _failed(result, what or "The command", self.instance)
        return result

    async def _as_root(self, script: str, stdin: str | None) -> tuple[str, str | None]:
        facts = await self.facts()
        inner = "sh -c " + shlex.quote(PROLOGUE + script)
        if facts.privilege == "root":
            return inner, stdin
        if facts.privilege == "sudo":
            return "sudo -n -- " + inner, stdin
        if facts.privilege == "none":
            raise SudoDenied(
                f"{facts.login_user} on {self.instance} is not root and cannot use sudo "
                "(it is not installed): log in as root, or install sudo and grant "
                "this user sudo rights",
                instance=self.instance,
            )
        if self._sudo_password is None:
            raise SudoRequired(
                f"sudo on {self.instance} asks {facts.login_user} for a password: give "
                "the sudo password (the login user's own password, usually)",
                instance=self.instance,
            )
        await self._check_sudo_password()
        line = self._sudo_password + "\n"
        return "sudo -k -S -p '' -- " + inner, line + (stdin or "")

    async def _check_sudo_password(self) -> None:
        if self._sudo_checked:
            return
        assert self._sudo_password is not None
        result = await self._exec(
            None, self._sudo_password + "\n", command="sudo -k -S -p '' -- true"
        )
        _raise_for_sudo(result, self.instance)
        if result.exit_status != 0:
            raise SudoDenied(
                f"sudo on {self.instance} refused: {_last_line(result.stderr)}",
                instance=self.instance,
            )
        self._sudo_checked = True

    async def _exec(
        self, script: str | None, stdin: str | None, *, command: str | None = None
    ) -> CommandResult:
        if command is None:
            assert script is not None
            command = "sh -c " + shlex.quote(PROLOGUE + script)

        async def opener(conn: asyncssh.SSHClientConnection) -> CommandResult:
            done = await conn.run(
                command,
                input=stdin,
                check=False,
                timeout=self.timeout,
                encoding="utf-8",
                errors="replace",
            )
            return CommandResult(
                done.exit_status if done.exit_status is not None else -1,
                str(done.stdout or ""),
                str(done.stderr or ""),
            )

        try:
            result, lease = await self.pool.open_session(
                self.principal, self.instance, opener, username=self.login_user
            )
        except asyncssh.TimeoutError:
            raise SystemCommandFailed(
                f"A system command on {self.instance} did not finish within "
                f"{self.timeout:.0f} seconds: check that the instance is not overloaded",
                instance=self.instance,
            ) from None
        except (asyncssh.Error, OSError) as exc:
            raise SSHError(
                f"Running a system command on {self.instance} failed: {exc}",
                instance=self.instance,
            ) from None
        lease.release()
        return result


def _raise_for_sudo(result: CommandResult, instance: str) -> None:
    if result.exit_status == 0 or "sudo" not in result.stderr:
        return
    stderr = result.stderr
    if any(text in stderr for text in _NO_RIGHTS):
        raise SudoDenied(
            f"sudo on {instance} refused: the login user has no sudo rights there. "
            "Log in as a user in the sudo (or wheel) group, or as root",
            instance=instance,
        )
    if any(text in stderr for text in _WRONG_PASSWORD):
        raise SudoDenied(
            f"sudo on {instance} refused the password: give the login user's "
            "correct sudo password",
            instance=instance,
        )
    if "a password is required" in stderr:
        raise SudoRequired(
            f"sudo on {instance} asks for a password: give the sudo password",
            instance=instance,
        )
    if "must have a tty" in stderr:
        raise SudoDenied(
            f"sudo on {instance} requires a terminal (Defaults requiretty): remove "
            "requiretty for this user in the sudoers, or log in as root",
            instance=instance,
        )


def _failed(result: CommandResult, what: str, instance: str) -> SystemCommandFailed:
    reason = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
    return SystemCommandFailed(
        f"{what} failed on {instance} (exit status {result.exit_status}): {reason}",
        instance=instance,
        exit_status=result.exit_status,
        stderr=result.stderr[-2000:],
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


__all__ = ["PROLOGUE", "CommandResult", "RemoteShell"]
