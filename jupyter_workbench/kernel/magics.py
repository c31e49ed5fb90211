"""``%workbench``: the gateway from IPython, one sub-command at a time.

Load with ``%load_ext jupyter_workbench``; ``%workbench help`` lists the
sub-commands. Errors print as one line that says what to do, not as a
traceback.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..gateway.errors import WorkbenchError
from .client import Workbench
from .files import download_many, upload_many
from .runs import run_magic

HELP = """\
%workbench hosts                     list instances and your login state
%workbench login NAME [USER]         log in (asks for the password; the demo needs none)
%workbench diagnose NAME             resolve, route, TCP, SSH and auth, step by step
%workbench logout NAME               close your connections and terminals on NAME
%workbench users NAME                accounts on NAME (groups, locked, sudo, last login)
%workbench logons NAME [USER]        logon history of NAME, failed logins included
%workbench services NAME             services of NAME with state and boot setting
%workbench policy check USER ACTION NAME   may USER do ACTION (e.g. LoginInstance) on NAME?
%workbench upload LOCAL... HOSTS:DIR  upload files (globs) to DIR on hosts (names, web-*, a,b)
%workbench download HOSTS:PATH LOCAL  download a file, folder or glob (one subfolder per host)
%workbench run TARGETS -- COMMAND    run COMMAND on TARGETS
                                     (web-*, web[01-20], env=prod, @group, all)
%%workbench run TARGETS [--timeout S] [--sudo]   the cell body is the script
%workbench help                      this text"""

#: The system management sub-commands, each taking an instance name.
SYSTEM = ("users", "logons", "services")


@magics_class
class WorkbenchMagics(Magics):
    """The ``%workbench`` line magic."""

    def __init__(self, shell: Any, workbench: Callable[[], Workbench]) -> None:
        super().__init__(shell)  # type: ignore[no-untyped-call]
        self._workbench = workbench

    @line_cell_magic  # type: ignore[untyped-decorator]
    def workbench(self, line: str, cell: str | None = None) -> Any:
        sub, _, rest = line.strip().partition(" ")
        if sub == "run":
            # The command after "--" (or the cell) is kept as typed, quotes
            # and all, so it is not split like the other sub-commands.
            try:
                return run_magic(self._workbench(), rest, cell)
            except WorkbenchError as exc:
                print(f"workbench: {exc.message}", file=sys.stderr)
                return None
        if cell is not None:
            print("workbench: only 'run' takes a cell body", file=sys.stderr)
            return None
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"workbench: {exc}", file=sys.stderr)
            return None
        command, args = (words[0], words[1:]) if words else ("help", [])
        handler = getattr(self, f"_{command}", None)
        if handler is None:
            print(
                f"workbench: unknown sub-command '{command}'\n{HELP}", file=sys.stderr
            )
            return None
        try:
            return handler(*args)
        except TypeError:
            print(
                f"workbench: wrong arguments for '{command}'\n{HELP}", file=sys.stderr
            )
        except WorkbenchError as exc:
            print(f"workbench: {exc.message}", file=sys.stderr)
        return None

    def _upload(self, *args: str) -> Any:
        if len(args) < 2:
            raise TypeError("upload")
        return upload_many(self._workbench(), list(args[:-1]), args[-1])

    def _download(self, source: str, destination: str = ".") -> Any:
        return download_many(self._workbench(), source, destination)

    def _help(self) -> None:
        print(HELP)

    def _hosts(self) -> Any:
        return self._workbench().instances()

    def _login(self, name: str, user: str | None = None) -> Any:
        wb = self._workbench()
        instance = next((i for i in wb.instances() if name in (i.name, i.id)), None)
        if instance is not None and instance.demo and user is None:
            return wb.login(name)
        user = user or (instance.user if instance else None) or getpass.getuser()
        password = getpass.getpass(f"Password for {user}@{name}: ")
        return wb.login(name, user, password=password)

    def _diagnose(self, name: str) -> None:
        print(self._workbench().diagnose(name))

    def _users(self, name: str) -> Any:
        return self._workbench().users(name)

    def _logons(self, name: str, user: str | None = None) -> Any:
        return self._workbench().logons(name, user=user)

    def _services(self, name: str) -> Any:
        return self._workbench().services(name)

    def _logout(self, name: str) -> None:
        self._workbench().logout(name)
        print(f"Logged out of {name}")

    def _policy(self, verb: str, user: str, action: str, name: str) -> None:
        if verb != "check":
            raise TypeError(verb)
        answer = self._workbench().explain(action, name, user=user)
        print(f"{user}: {answer['action']} on {name}: {answer['explanation']}")


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%workbench`` and its completion of sub-commands and names."""
    client: list[Workbench] = []

    def workbench() -> Workbench:
        if not client:
            client.append(Workbench())
        return client[0]

    ipython.register_magics(WorkbenchMagics(ipython, workbench))

    def complete(_shell: Any, event: Any) -> list[str]:
        words = event.line.split()
        typing_first = len(words) < 2 or (
            len(words) == 2 and not event.line.endswith(" ")
        )
        if typing_first:
            return [
                "hosts",
                "login",
                "diagnose",
                "logout",
                "run",
                *SYSTEM,
                "policy",
                "help",
            ]
        try:
            return [i.name for i in workbench().instances()]
        except WorkbenchError:
            return []

    ipython.set_hook("complete_command", complete, str_key="%workbench")
