"""``%workbench``: the gateway from IPython, one sub-command at a time.

Load with ``%load_ext jupyter_workbench``; ``%workbench help`` lists the
sub-commands (the table and the completer are in `magic_help`). Errors,
the gateway's and wrong arguments alike, print as one line that says what
to do, not as a traceback.
"""

from __future__ import annotations

import getpass
import inspect
import shlex
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import StdinNotImplementedError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..gateway.errors import WorkbenchError
from .client import Workbench
from .files import download_many, upload_many
from .magic_help import SUBCOMMANDS, UsageError, help_text, overview, unknown
from .magic_help import register_completer as _register_completer
from .runs import run_magic

#: The overview that ``%workbench help`` prints.
HELP = overview()

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
        """Run one sub-command; print a one-line error instead of a traceback."""
        try:
            return self._dispatch(line, cell)
        except WorkbenchError as exc:
            print(f"workbench: {exc.message}", file=sys.stderr)
        except OSError as exc:
            # Local files of upload and download: say which and why.
            where = f": {exc.filename}" if exc.filename else ""
            print(f"workbench: {exc.strerror or exc}{where}", file=sys.stderr)
        except StdinNotImplementedError:
            print(
                "workbench: this front end cannot ask for a password; pass it in "
                "Python instead: wb.login(NAME, USER, password=...)",
                file=sys.stderr,
            )
        return None

    def _dispatch(self, line: str, cell: str | None) -> Any:
        sub, _, rest = line.strip().partition(" ")
        if sub == "run":
            # The command after "--" (or the cell) is kept as typed, quotes
            # and all, so it is not split like the other sub-commands.
            if _wants_help(rest.partition(" -- ")[0].split()):
                return self._help("run")
            return run_magic(self._workbench(), rest, cell)
        if cell is not None:
            raise WorkbenchError(
                "only 'run' takes a cell body: %%workbench run TARGETS"
            )
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise WorkbenchError(f"{exc} in: {line.strip()}") from None
        command, args = (words[0], words[1:]) if words else ("help", [])
        handler = getattr(self, f"_{command}", None)
        if command not in SUBCOMMANDS:
            raise unknown(command)
        if command != "help" and _wants_help(args):
            return self._help(command)
        if handler is None:
            raise WorkbenchError(f"'{command}' is not available in this version")
        try:
            inspect.signature(handler).bind(*args)
        except TypeError:
            raise UsageError(command) from None
        return handler(*args)

    def _upload(self, *args: str) -> Any:
        if len(args) < 2:
            raise UsageError("upload")
        return upload_many(self._workbench(), list(args[:-1]), args[-1])

    def _download(self, source: str, destination: str = ".") -> Any:
        return download_many(self._workbench(), source, destination)

    def _help(self, name: str | None = None) -> None:
        print(help_text(name) if name else overview())

    def _hosts(self) -> Any:
        return self._workbench().instances()

    def _terminal(self, name: str) -> Any:
        return self._workbench().terminal(name)

    def _connect(self, name: str | None = None) -> Any:
        from .login_widgets import connect_widget

        return connect_widget(self._workbench(), name)

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
            raise UsageError("policy")
        answer = self._workbench().explain(action, name, user=user)
        print(f"{user}: {answer['action']} on {name}: {answer['explanation']}")

    def _rdp(self, name: str, *args: str) -> Any:
        user, domain, (width, height) = _rdp_args(args)
        wb = self._workbench()
        if user is None:
            instance = next((i for i in wb.instances() if name in (i.name, i.id)), None)
            user = (instance.user if instance else None) or getpass.getuser()
        password = getpass.getpass(f"Password for {user}@{name}: ")
        return wb.rdp(
            name,
            username=user,
            password=password,
            domain=domain,
            width=width,
            height=height,
        )


def _wants_help(args: list[str]) -> bool:
    return "-h" in args or "--help" in args


def _rdp_args(args: tuple[str, ...]) -> tuple[str | None, str, tuple[int, int]]:
    """Parse ``[USER] [--domain D] [--size WxH]`` of ``%workbench rdp``."""
    user: str | None = None
    domain, size = "", (1024, 768)
    words = iter(args)
    for word in words:
        if word in ("--domain", "--size"):
            value = next(words, None)
            if value is None:
                raise UsageError("rdp", f"{word} needs a value")
            if word == "--domain":
                domain = value
            else:
                size = _size(value)
        elif word.startswith("-") or user is not None:
            raise UsageError("rdp", f"unexpected {word!r}")
        else:
            user = word
    return user, domain, size


def _size(value: str) -> tuple[int, int]:
    width, _, height = value.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise UsageError("rdp", f"--size {value!r} is not WIDTHxHEIGHT")
    return int(width), int(height)


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%workbench`` and its completion of sub-commands and names."""
    client: list[Workbench] = []

    def workbench() -> Workbench:
        if not client:
            client.append(Workbench())
        return client[0]

    ipython.register_magics(WorkbenchMagics(ipython, workbench))
    _register_completer(ipython, lambda: [i.name for i in workbench().instances()])
