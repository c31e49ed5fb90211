"""`Workbench`: the notebook's and scripts' way into the gateway.

``Workbench()`` finds the Jupyter server that started this kernel through
the environment the server extension publishes (``JUPYTER_WORKBENCH_URL``
and ``JUPYTER_WORKBENCH_KEY``), so nothing is pasted. Where there is no such
server (a plain script, a headless notebook run) it runs a gateway in this
process. Every method has an async twin under ``wb.aio``.

The client keeps its own event loop in a daemon thread: a kernel's loop
is already running in the main thread, so blocking calls could not run
coroutines there, and the gateway's connections must stay on one loop.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from ..gateway.audit import current_origin
from ..gateway.diagnose import Diagnosis, Step
from ..gateway.errors import HostKeyUnknown, WorkbenchError
from ..gateway.inventory import Instance
from ..gateway.recording import Recording
from ..gateway.system import LogonRecord, ServiceInfo, UserInfo
from .backends import Backend, LocalBackend, RestBackend, in_process_origin
from .files import AsyncRemoteFiles, RemoteFiles, transport_for
from .runs import (
    LiveView,
    RunResult,
    Sink,
    arun,
    rerun_blocking,
    run_blocking,
    run_body,
)
from .system import AsyncSystem, System, Table

T = TypeVar("T")
Responder = Callable[[str, bool], str]


@dataclass(frozen=True)
class InstanceInfo(Instance):
    """An instance as the client sees it, with this user's login state."""

    demo: bool = False
    logged_in: bool = False
    login_user: str | None = None
    login_users: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceInfo:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["login_users"] = tuple(values.get("login_users", ()))
        return cls(**values)


class InstanceList(list[InstanceInfo]):
    """A list of instances that shows as a table in notebooks."""

    def to_dataframe(self) -> Any:
        """Return a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame([i.__dict__ for i in self])

    def _repr_html_(self) -> str:
        from html import escape

        columns = (
            "name",
            "host",
            "port",
            "protocol",
            "source",
            "logged_in",
            "login_user",
        )
        head = "".join(f"<th>{c}</th>" for c in columns)
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{escape(str(getattr(i, c)))}</td>" for c in columns)
            + "</tr>"
            for i in self
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class _Async:
    """The coroutine twins of `Workbench`'s methods (``wb.aio``)."""

    def __init__(self, backend: Backend, loop: asyncio.AbstractEventLoop) -> None:
        self._backend = backend
        self._loop = loop

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(submit(self._backend, coro, self._loop))

    async def instances(self) -> InstanceList:
        data = await self._on_loop(self._backend.instances())
        return InstanceList(InstanceInfo.from_dict(d) for d in data)

    async def login(
        self,
        name: str,
        username: str | None = None,
        *,
        password: str | None = None,
        key: str | Path | None = None,
        passphrase: str | None = None,
        agent: bool = False,
        host_key: str | None = None,
        responder: Responder | None = None,
    ) -> InstanceInfo:
        body = _login_body(username, password, key, passphrase, agent)
        try:
            outcome = await self._on_loop(self._backend.login(name, body))
        except HostKeyUnknown as exc:
            if host_key is None or host_key != exc.details.get("fingerprint"):
                raise
            await self._on_loop(self._backend.accept_host_key(name, host_key))
            outcome = await self._on_loop(self._backend.login(name, body))
        while outcome["status"] == "challenge":
            answers = _answer(outcome, responder or _ask_in_terminal)
            outcome = await self._on_loop(
                self._backend.respond(name, outcome["challenge"], answers)
            )
        return InstanceInfo.from_dict(outcome["instance"])

    async def accept_host_key(self, name: str, fingerprint: str) -> None:
        await self._on_loop(self._backend.accept_host_key(name, fingerprint))

    async def logout(self, name: str) -> None:
        await self._on_loop(self._backend.logout(name))

    async def diagnose(self, name: str) -> Diagnosis:
        data = await self._on_loop(self._backend.diagnose(name))
        return Diagnosis(data["instance"], [Step(**s) for s in data["steps"]])

    def files(self, name: str) -> AsyncRemoteFiles:
        return AsyncRemoteFiles(name, transport_for(self._backend, name), self._on_loop)

    def system(self, name: str) -> AsyncSystem:
        async def call(op: str, args: dict[str, Any]) -> Any:
            return await self._on_loop(self._backend.system(name, op, args))

        return AsyncSystem(name, call)

    async def users(self, name: str) -> Table[UserInfo]:
        return await self.system(name).users()

    async def logons(self, name: str, **filters: Any) -> Table[LogonRecord]:
        return await self.system(name).logons(**filters)

    async def services(self, name: str) -> Table[ServiceInfo]:
        return await self.system(name).services()

    async def explain(
        self, action: str, name: str, *, user: str | None = None
    ) -> dict[str, Any]:
        return await self._on_loop(self._backend.explain(_action(action), name, user))

    async def recordings(self) -> list[dict[str, Any]]:
        return await self._on_loop(self._backend.recordings())

    async def recording(self, recording_id: str) -> Recording:
        text = await self._on_loop(self._backend.recording(recording_id))
        return Recording.from_text(text)

    async def run(
        self,
        targets: str | Sequence[str],
        command: str,
        *,
        on_event: Sink | None = None,
        **options: Any,
    ) -> RunResult:
        """Run *command* on *targets* and return the result; see `Workbench.run`.

        Cancelling the awaiting task cancels the run on every host.
        """
        body = run_body(targets, command, **options)
        return await arun(self._backend, self._on_loop, body, on_event)

    async def terminal(
        self,
        name: str | None = None,
        *,
        terminal_id: str | None = None,
        login_user: str | None = None,
        height: str = "360px",
        screen_reader: bool = False,
    ) -> Any:
        """Return a terminal widget on *name*, or on the session *terminal_id*."""
        from . import terminal_widget as tw

        if terminal_id is not None:
            session = await self._on_loop(tw.terminal_info(self._backend, terminal_id))
        elif name is not None:
            session = await self._on_loop(
                tw.open_terminal(self._backend, name, login_user=login_user)
            )
        else:
            raise WorkbenchError("Give an instance name, or terminal_id= to reattach")

        return tw.terminal_widget(
            self._backend,
            session,
            loop=self._loop,
            height=height,
            screen_reader=screen_reader,
        )

    async def terminals(self) -> list[dict[str, Any]]:
        from .terminal_widget import list_terminals

        return await self._on_loop(list_terminals(self._backend))

    async def rdp(
        self,
        name: str,
        *,
        username: str,
        password: str,
        domain: str = "",
        width: int = 1024,
        height: int = 768,
    ) -> Any:
        from .rdp import create_desktop, desktop_widget

        answer = await self._on_loop(
            create_desktop(
                self._backend,
                name,
                username=username,
                password=password,
                domain=domain,
                width=width,
                height=height,
            )
        )
        return desktop_widget(answer, width=width, height=height)


class Workbench:
    """Instances, logins and diagnosis, from a notebook or a script.

    Parameters
    ----------
    url
        A Jupyter server to use instead of the one found in the environment.
    key
        That server's kernel key; or give ``token`` (a Jupyter token).
    inventory
        An inventory file for the in-process gateway. Giving it means: do
        not look for a server.
    local
        Force the in-process gateway even when a server is found.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        key: str | None = None,
        token: str | None = None,
        inventory: str | Path | None = None,
        local: bool = False,
        **gateway_config: Any,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jupyter-workbench", daemon=True
        )
        self._thread.start()
        url = url or os.environ.get("JUPYTER_WORKBENCH_URL")
        key = key or os.environ.get("JUPYTER_WORKBENCH_KEY")
        try:
            if url and not local and inventory is None:
                self.backend: Backend = self._call(_make_rest(url, key, token))
            else:
                self.backend = self._call(_make_local(inventory, gateway_config))
        except BaseException:
            self._stop_loop()
            raise
        self.aio = _Async(self.backend, self._loop)

    def __repr__(self) -> str:
        return f"<Workbench using the {self.backend.description}>"

    def instances(self) -> InstanceList:
        """Return the instances in the inventory, with this user's login state."""
        return self._call(self.aio.instances())

    def login(
        self,
        name: str,
        username: str | None = None,
        *,
        password: str | None = None,
        key: str | Path | None = None,
        passphrase: str | None = None,
        agent: bool = False,
        host_key: str | None = None,
        responder: Responder | None = None,
    ) -> InstanceInfo:
        """Log in to an instance.

        Parameters
        ----------
        name
            The instance's name or id.
        username
            The login user; the demo instance needs none.
        password, key, passphrase, agent
            One way to authenticate: a password; a private key (a file
            path, or the key's text) with its passphrase; or the server's
            ssh-agent. With none, the instance's keyboard-interactive
            prompts are asked through *responder*.
        host_key
            The ``SHA256:…`` fingerprint you expect on first contact. When
            the instance presents exactly that key it is trusted.
        responder
            ``responder(prompt, echo) -> answer`` for keyboard-interactive
            prompts; by default they are asked with ``getpass``/``input``.

        Raises
        ------
        HostKeyUnknown
            On first contact without a matching *host_key*: check the
            fingerprint, then call `accept_host_key` or pass *host_key*.
        HostKeyChanged, AuthenticationFailed, Unreachable, NetworkRefused
            As the names say; the message tells what to do.
        """
        return self._call(
            self.aio.login(
                name,
                username,
                password=password,
                key=key,
                passphrase=passphrase,
                agent=agent,
                host_key=host_key,
                responder=responder,
            )
        )

    def accept_host_key(self, name: str, fingerprint: str) -> None:
        """Trust the key *name* presented at the last login, if it has *fingerprint*."""
        self._call(self.aio.accept_host_key(name, fingerprint))

    def logout(self, name: str) -> None:
        """Close this user's connections and terminals on *name*."""
        self._call(self.aio.logout(name))

    def diagnose(self, name: str) -> Diagnosis:
        """Walk resolve, route, TCP, SSH and auth for *name*."""
        return self._call(self.aio.diagnose(name))

    def files(self, name: str) -> RemoteFiles:
        """Files on *name*: list, stat, read, write, upload, download, remove."""
        return RemoteFiles(self.aio.files(name), self._call)

    def system(self, name: str) -> System:
        """Return users, logons, services and their changes on *name*.

        Log in to the instance first. Changes run as root through sudo when
        the login user is not root; the login password is used for sudo
        unless ``set_sudo_password`` gives another.
        """
        return System(self.aio.system(name), self._call)

    def users(self, name: str) -> Table[UserInfo]:
        """Return the accounts on *name* (a table; ``.to_dataframe()`` for pandas)."""
        return self._call(self.aio.users(name))

    def logons(
        self,
        name: str,
        *,
        user: str | None = None,
        source: str | None = None,
        since: Any = None,
        until: Any = None,
        failed: bool = True,
        limit: int = 1000,
    ) -> Table[LogonRecord]:
        """Return the logon history of *name*, newest first, with failed logins.

        Filter by *user*, by *source* (an address or a network such as
        ``10.0.0.0/8``) and by time (*since*, *until*: datetimes or ISO text).
        """
        return self._call(
            self.aio.logons(
                name,
                user=user,
                source=source,
                since=since,
                until=until,
                failed=failed,
                limit=limit,
            )
        )

    def services(self, name: str) -> Table[ServiceInfo]:
        """Return the services of *name* with their state and boot setting."""
        return self._call(self.aio.services(name))

    def explain(
        self, action: str, name: str, *, user: str | None = None
    ) -> dict[str, Any]:
        """Say whether *user* (default: you) may do *action* on *name*, and why.

        *action* is ``ecs-workbench:LoginInstance`` or just ``LoginInstance``.
        The answer's ``explanation`` reads "allowed, because statement 1 of
        policy ops allows it"; asking about another user needs an
        administrator.
        """
        return self._call(self.aio.explain(action, name, user=user))

    def recordings(self) -> list[dict[str, Any]]:
        """List your terminal recordings (``record_terminals`` must be on), newest first."""
        return self._call(self.aio.recordings())

    def recording(self, recording_id: str) -> Recording:
        """Fetch one recording; ``.play()`` replays it in the cell's output."""
        return self._call(self.aio.recording(recording_id))

    def run(
        self,
        targets: str | Sequence[str],
        command: str,
        *,
        live: bool = True,
        on_event: Sink | None = None,
        **options: Any,
    ) -> RunResult:
        """Run a shell command on many instances at once; return a `RunResult`.

        Parameters
        ----------
        targets
            Names, globs (``web-*``), ranges (``web[01-20]``), tags
            (``env=prod``), groups (``@db``), ``all``; comma-separated, and
            ``!name`` to leave out. A part that matches nothing is an error.
        command
            A shell command line or script, run by the login shell.
        live
            Show each host's output as it arrives and a progress bar.
        on_event
            Called with every event instead of the live view.
        **options
            ``stdin`` (str or bytes), ``env`` (dict), ``cwd``, ``sudo`` and
            ``sudo_password``, ``concurrency`` (50), ``connect_timeout``
            (20 s), ``command_timeout`` (none), ``error_budget`` (a count
            or ``"10%"``); and for hosts you have not logged in to,
            ``username`` with ``password``, ``key``/``passphrase`` or
            ``agent=True``.

        Interrupting the kernel cancels the run on every host; the result
        then shows the hosts as ``cancelled``.

        Raises
        ------
        TargetError
            When the selection is empty or names what does not exist.
        PolicyDenied
            When a policy forbids running commands on a selected instance.
        """
        body = run_body(targets, command, **options)
        view = on_event or (LiveView() if live else None)
        return run_blocking(self, body, view)

    def command_cell(self, targets: str = "", command: str = "") -> Any:
        """Return a command-cell widget: pick hosts, run, cancel, see results."""
        from .command_cell import CommandCell

        return CommandCell(self, targets=targets, command=command)

    def rerun_failed(self, result: RunResult, *, live: bool = True) -> RunResult:
        """Run *result*'s command again on the hosts that failed in it."""
        return rerun_blocking(self, result, LiveView() if live else None)

    def terminal(
        self,
        name: str | None = None,
        *,
        terminal_id: str | None = None,
        login_user: str | None = None,
        height: str = "360px",
        screen_reader: bool = False,
    ) -> Any:
        """Show a terminal on the instance *name* in the notebook (xterm.js).

        Opens a new terminal session on the Jupyter server and returns a
        `TerminalWidget` for it; with *terminal_id* (``wb.terminals()`` lists
        them), attaches to a running session instead, with its scrollback.
        The session outlives the widget: a page reload reattaches, and
        ``widget.terminal_id`` names it for later.

        Parameters
        ----------
        login_user
            With several logins on *name*, which one; by default the latest.
        height
            The CSS height of the screen (the rows follow from it; the user
            can drag its bottom edge).
        screen_reader
            xterm.js's screen-reader mode (rows mirrored as text).

        Raises
        ------
        NotLoggedIn
            When you have no login on *name*: ``wb.login(...)``,
            ``wb.login_dialog(name)`` or ``%workbench connect NAME``.

        With the in-process gateway the session runs in this kernel, and the
        widget carries its input and output over the widget's own comm.
        """
        return self._call(
            self.aio.terminal(
                name,
                terminal_id=terminal_id,
                login_user=login_user,
                height=height,
                screen_reader=screen_reader,
            )
        )

    def terminals(self) -> list[dict[str, Any]]:
        """List your running terminal sessions on the server, oldest first."""
        return self._call(self.aio.terminals())

    def picker(self, *, protocol: str | None = "ssh") -> Any:
        """Return an instance picker widget: filter, pick, see your login state."""
        from .login_widgets import InstancePicker

        return InstancePicker(self, protocol=protocol)

    def login_dialog(self, name: str | None = None, **options: Any) -> Any:
        """Return a login form widget for *name* (or with a picker, for any).

        User, password or private key upload with its passphrase, the
        server's agent, keyboard-interactive prompts, and first-contact
        host-key confirmation showing the fingerprint. Secrets are cleared
        from the form as soon as they are sent. ``on_login`` (a keyword)
        is called with the `InstanceInfo` after a successful login.
        """
        from .login_widgets import LoginDialog

        return LoginDialog(self, name, **options)

    def rdp(
        self,
        name: str,
        *,
        username: str,
        password: str,
        domain: str = "",
        width: int = 1024,
        height: int = 768,
    ) -> Any:
        """Show the remote desktop of the RDP instance *name* in the notebook.

        Returns a widget showing the desktop at *width* x *height* pixels;
        the password goes to the Jupyter server only, which hands it to
        guacd. Needs the server (not the in-process gateway).

        Raises
        ------
        RDPNotSupported
            For an instance that is not RDP, or without a Jupyter server.
        """
        return self._call(
            self.aio.rdp(
                name,
                username=username,
                password=password,
                domain=domain,
                width=width,
                height=height,
            )
        )

    def close(self) -> None:
        """Close the backend (and an in-process gateway's connections)."""
        if self._loop.is_closed():
            return
        self._call(self.backend.close())
        self._stop_loop()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        # No backend yet while the constructor makes it.
        return submit(getattr(self, "backend", None), coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._submit(coro).result()


async def _make_rest(url: str, key: str | None, token: str | None) -> Backend:
    return RestBackend(url, key=key, token=token)


async def _make_local(inventory: str | Path | None, config: dict[str, Any]) -> Backend:
    return LocalBackend.create(inventory, **config)


def _action(action: str) -> str:
    return action if ":" in action else f"ecs-workbench:{action}"


def _login_body(
    username: str | None,
    password: str | None,
    key: str | Path | None,
    passphrase: str | None,
    agent: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if username is not None:
        body["username"] = username
    if password is not None:
        body["password"] = password
    if key is not None:
        text = str(key)
        body["private_key" if "PRIVATE KEY" in text else "key_path"] = text
    if passphrase is not None:
        body["passphrase"] = passphrase
    if agent:
        body["agent"] = True
    if body and "username" not in body:
        raise WorkbenchError("Give a username with a password, key or agent login")
    return body


def _answer(challenge: dict[str, Any], responder: Responder) -> list[str]:
    if challenge.get("instructions"):
        print(challenge["instructions"])
    return [responder(p["prompt"], p["echo"]) for p in challenge["prompts"]]


def _ask_in_terminal(prompt: str, echo: bool) -> str:
    return input(prompt) if echo else getpass.getpass(prompt)


def submit(
    backend: Backend | None,
    coro: Coroutine[Any, Any, T],
    loop: asyncio.AbstractEventLoop,
) -> Future[T]:
    """Run *coro* on the client's loop; an in-process gateway learns its notebook.

    The task on the loop starts with a copy of the caller's context, so the
    audit origin set here around the hand-over reaches the gateway's records
    without leaking into the caller's later calls.
    """
    origin = in_process_origin(backend)
    if origin is None:
        return asyncio.run_coroutine_threadsafe(coro, loop)
    token = current_origin.set(origin)
    try:
        return asyncio.run_coroutine_threadsafe(coro, loop)
    finally:
        current_origin.reset(token)
