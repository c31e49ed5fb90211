"""Batch runs from a notebook: `RunResult`, live output, and ``%workbench run``.

``wb.run("web-*", "uname -r")`` starts the run on the gateway (over REST or
in-process), shows each host's output as it arrives with a progress line,
and returns a `RunResult` when every host has finished. Interrupting the
kernel (or Ctrl-C in a script) cancels the run on every host and returns
the result with the hosts marked ``cancelled``.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from ..gateway.batch import options_from_dict
from ..gateway.credentials import Credentials
from ..gateway.errors import WorkbenchError
from .backends import Backend, LocalBackend, RestBackend

if TYPE_CHECKING:
    from .client import Workbench

T = TypeVar("T")
Event = dict[str, Any]
Sink = Callable[[Event], None]

_OPTION_NAMES = (
    "stdin",
    "env",
    "cwd",
    "sudo",
    "sudo_password",
    "concurrency",
    "connect_timeout",
    "command_timeout",
    "error_budget",
)
_FINAL = {"ok", "failed", "error", "cancelled", "skipped"}


@dataclass
class HostOutcome:
    """One host's result, with subprocess-like names."""

    host: str
    state: str
    exit_status: int | None = None
    exit_signal: str | None = None
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None
    started: str | None = None
    duration: float | None = None
    stdout_truncated: int = 0
    stderr_truncated: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostOutcome:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class RunResult:
    """A finished (or cancelled) run: per-host results, ``.ok`` and ``.failed``."""

    id: str
    command: str
    targets: str
    state: str
    hosts: dict[str, HostOutcome] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        hosts = {h["host"]: HostOutcome.from_dict(h) for h in data["hosts"]}
        return cls(
            data["id"],
            data["command"],
            data.get("targets", ""),
            data["state"],
            hosts,
            dict(data.get("summary", {})),
        )

    def __getitem__(self, host: str) -> HostOutcome:
        return self.hosts[host]

    def __iter__(self) -> Any:
        return iter(self.hosts.values())

    def __len__(self) -> int:
        return len(self.hosts)

    @property
    def ok(self) -> list[str]:
        """Hosts where the command exited with status 0."""
        return [h.host for h in self if h.state == "ok"]

    @property
    def failed(self) -> list[str]:
        """Hosts that exited non-zero, timed out or could not be reached."""
        return [h.host for h in self if h.state in ("failed", "error")]

    def compare(self, other: RunResult) -> dict[str, list[str]]:
        """Return the hosts whose exit status or output differ in *other*."""
        changed: dict[str, list[str]] = {}
        for name in dict.fromkeys([*self.hosts, *other.hosts]):
            a, b = self.hosts.get(name), other.hosts.get(name)
            if a is None or b is None:
                changed[name] = ["added" if a is None else "removed"]
                continue
            what = [
                f
                for f in ("exit_status", "stdout", "stderr")
                if getattr(a, f) != getattr(b, f)
                or (f == "exit_status" and a.state != b.state)
            ]
            if what:
                changed[name] = what
        return changed

    def to_dataframe(self) -> Any:
        """Return one row per host (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError:
            raise WorkbenchError(
                "to_dataframe needs pandas: pip install pandas (or use .hosts)"
            ) from None
        return pd.DataFrame([h.__dict__ for h in self]).set_index("host")

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.summary.items()))
        return f"<RunResult {self.id[:8]} {self.state}: {counts}; {self.command!r}>"

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{c}</th>" for c in ("host", "state", "exit", "duration", "output")
        )
        rows = []
        for h in self:
            first = h.stdout or h.stderr or (h.error or {}).get("message", "")
            first = first.strip().splitlines()[0] if first.strip() else ""
            duration = f"{h.duration:.2f} s" if h.duration is not None else ""
            exit_text = h.exit_signal or (
                "" if h.exit_status is None else h.exit_status
            )
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{escape(str(v))}</td>"
                    for v in (h.host, h.state, exit_text, duration, first[:120])
                )
                + "</tr>"
            )
        caption = escape(repr(self))
        # Shell commands are full of "$": keep JupyterLab's MathJax off them.
        return (
            '<table class="tex2jax_ignore mathjax_ignore">'
            f"<caption>{caption}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )


class _Transport(Protocol):
    async def start(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def get(self, run_id: str) -> dict[str, Any]: ...
    async def cancel(self, run_id: str) -> None: ...
    async def rerun(self, run_id: str) -> dict[str, Any]: ...
    async def events(self, run_id: str, sink: Sink) -> None: ...


class _LocalRuns:
    """Runs on an in-process gateway."""

    def __init__(self, backend: LocalBackend) -> None:
        self._gateway = backend.gateway
        self._principal = backend.principal

    async def start(self, body: dict[str, Any]) -> dict[str, Any]:
        login = body.get("credentials")
        run = self._gateway.start_run(
            self._principal,
            body["targets"],
            body["command"],
            options_from_dict(body),
            credentials=Credentials(**login) if login else None,
        )
        return run.to_dict(output=False)

    async def get(self, run_id: str) -> dict[str, Any]:
        return self._gateway.runs.get(self._principal, run_id).to_dict()

    async def cancel(self, run_id: str) -> None:
        await self._gateway.runs.get(self._principal, run_id).cancel()

    async def rerun(self, run_id: str) -> dict[str, Any]:
        run = self._gateway.runs.rerun_failed(self._principal, run_id)
        return run.to_dict(output=False)

    async def events(self, run_id: str, sink: Sink) -> None:
        run = self._gateway.runs.get(self._principal, run_id)
        done = asyncio.Event()

        def listener(event: Event) -> None:
            sink(event)
            if event["type"] == "run" and event["state"] != "running":
                done.set()

        for event in run.listen(listener):
            listener(event)
        try:
            await done.wait()
        finally:
            run.unlisten(listener)


class _RestRuns:
    """Runs on the Jupyter server, events over its websocket."""

    def __init__(self, backend: RestBackend) -> None:
        self._backend = backend

    async def start(self, body: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._backend._call("POST", "runs", body)
        return data

    async def get(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._backend._call("GET", f"runs/{run_id}")
        return data

    async def cancel(self, run_id: str) -> None:
        await self._backend._call("DELETE", f"runs/{run_id}")

    async def rerun(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._backend._call("POST", f"runs/{run_id}/rerun")
        return data

    async def events(self, run_id: str, sink: Sink) -> None:
        url = self._backend.url.replace("http", "ws", 1) + f"runs/{run_id}/events"
        request = HTTPRequest(url, headers={"Authorization": self._backend._auth})
        try:
            socket = await websocket_connect(request)
        except OSError as exc:
            raise WorkbenchError(f"Cannot follow run {run_id}: {exc}") from None
        try:
            while (message := await socket.read_message()) is not None:
                sink(json.loads(message))
        finally:
            socket.close()


def transport_for(backend: Backend) -> _Transport:
    """Return how runs reach the gateway behind *backend*."""
    if isinstance(backend, LocalBackend):
        return _LocalRuns(backend)
    if isinstance(backend, RestBackend):
        return _RestRuns(backend)
    raise WorkbenchError(f"Batch runs are not available on {backend.description}")


def run_body(
    targets: str | Sequence[str],
    command: str,
    *,
    username: str | None = None,
    password: str | None = None,
    key: str | None = None,
    passphrase: str | None = None,
    agent: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Build the ``POST runs`` body from keyword arguments (see docs/api.md)."""
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise WorkbenchError(
            f"Unknown run option(s) {', '.join(unknown)}; known: "
            f"{', '.join(_OPTION_NAMES)}"
        )
    body: dict[str, Any] = {"targets": targets, "command": command}
    for name, value in options.items():
        if value is None:
            continue
        if name == "stdin" and isinstance(value, bytes):
            value = value.decode()
        body[name] = value
    if username is not None:
        login: dict[str, Any] = {"username": username}
        if password is not None:
            login["password"] = password
        if key is not None:
            login["private_key" if "PRIVATE KEY" in key else "key_path"] = key
        if passphrase is not None:
            login["passphrase"] = passphrase
        if agent:
            login["agent"] = True
        body["credentials"] = login
    elif password is not None or key is not None or agent:
        raise WorkbenchError("Give a username with a password, key or agent login")
    return body


async def arun(
    backend: Backend,
    on_loop: Callable[[Coroutine[Any, Any, Any]], Coroutine[Any, Any, Any]],
    body: dict[str, Any],
    on_event: Sink | None = None,
) -> RunResult:
    """Start a run, follow its events, and return its result (``wb.aio.run``).

    Cancelling the awaiting task cancels the run on the gateway.
    """
    transport = transport_for(backend)
    started = await on_loop(transport.start(body))

    def sink(event: Event) -> None:
        if on_event is not None:
            on_event(event)

    try:
        await on_loop(transport.events(started["id"], sink))
    except asyncio.CancelledError:
        await on_loop(transport.cancel(started["id"]))
        raise
    return RunResult.from_dict(await on_loop(transport.get(started["id"])))


def run_blocking(
    wb: Workbench, body: dict[str, Any], on_event: Sink | None = None
) -> RunResult:
    """Run and wait in the calling thread; Ctrl-C (a kernel interrupt) cancels.

    Events are handed to *on_event* in the calling thread, so a notebook
    shows them in the cell that runs. A cancelled run is returned, not
    raised: its hosts say ``cancelled``.
    """
    transport = transport_for(wb.backend)
    return _follow(wb, transport, wb._call(transport.start(body)), on_event)


def rerun_blocking(
    wb: Workbench, result: RunResult, on_event: Sink | None = None
) -> RunResult:
    """Run the failed hosts of *result* again, as `run_blocking` does."""
    transport = transport_for(wb.backend)
    return _follow(wb, transport, wb._call(transport.rerun(result.id)), on_event)


def _follow(
    wb: Workbench,
    transport: _Transport,
    started: dict[str, Any],
    on_event: Sink | None,
) -> RunResult:
    run_id = started["id"]
    inbox: queue.Queue[Event | None] = queue.Queue()

    async def follow() -> None:
        try:
            await transport.events(run_id, inbox.put)
        finally:
            inbox.put(None)

    following = wb._submit(follow())
    try:
        while (event := inbox.get()) is not None:
            if on_event is not None:
                on_event(event)
    except KeyboardInterrupt:
        print(f"Cancelling run {run_id[:8]} on every host …", file=sys.stderr)
        wb._call(transport.cancel(run_id))
    following.result()
    return RunResult.from_dict(wb._call(transport.get(run_id)))


class LiveView:
    """Shows a run as it goes: output lines prefixed by host, and progress.

    In a notebook with ipywidgets a progress bar is shown; elsewhere a
    text line. Output lines are printed as ``host | line`` in arrival
    order, so each host's lines stay recognisable even when interleaved.
    """

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.total = 0
        self.finished: set[str] = set()
        self.seen: set[str] = set()
        self._partial: dict[tuple[str, str], str] = {}
        self._bar: Any = None
        self._width = 0

    def __call__(self, event: Event) -> None:
        kind = event["type"]
        if kind == "host":
            self._host(event)
        elif kind == "output" and not self.quiet:
            self._output(event)
        elif kind == "run" and event["state"] != "running":
            self._flush()
            self._progress(final=True)

    def _host(self, event: Event) -> None:
        # The first events are a snapshot of every host, in whatever state
        # it has reached, so the total is the number of hosts seen.
        self._width = max(self._width, len(event["host"]))
        self.seen.add(event["host"])
        self.total = len(self.seen)
        if event["state"] in _FINAL:
            self.finished.add(event["host"])
        self._progress()

    def _output(self, event: Event) -> None:
        key = (event["host"], event["stream"])
        text = self._partial.pop(key, "") + event["data"]
        *lines, rest = text.split("\n")
        if rest:
            self._partial[key] = rest
        out = sys.stderr if event["stream"] == "stderr" else sys.stdout
        for line in lines:
            print(f"{event['host']:<{self._width}} | {line}", file=out)

    def _flush(self) -> None:
        for (host, stream), rest in self._partial.items():
            out = sys.stderr if stream == "stderr" else sys.stdout
            print(f"{host:<{self._width}} | {rest}", file=out)
        self._partial.clear()

    def _progress(self, *, final: bool = False) -> None:
        if self.total == 0:
            return
        if self._bar is None:
            self._bar = _progress_bar(self.total)
        if self._bar is not None:
            self._bar.max = self.total
            self._bar.value = len(self.finished)
            self._bar.description = f"{len(self.finished)}/{self.total}"
        elif final:
            print(f"{len(self.finished)}/{self.total} hosts finished", file=sys.stderr)


def _progress_bar(total: int) -> Any:
    """Return a displayed ipywidgets progress bar, or None outside a kernel."""
    try:
        import ipywidgets
        from IPython.core.getipython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()  # type: ignore[no-untyped-call]
    if shell is None or not hasattr(shell, "kernel"):
        return None
    bar = ipywidgets.IntProgress(value=0, min=0, max=total, description=f"0/{total}")
    display(bar)  # type: ignore[no-untyped-call]
    return bar


def run_magic(wb: Workbench, line: str, cell: str | None) -> RunResult | None:
    """``%workbench run TARGETS [options] -- COMMAND`` or ``%%workbench run TARGETS``.

    Options before ``--``: ``--timeout S`` (per-host command timeout),
    ``--concurrency N``, ``--budget N|N%``, ``--sudo``, ``--cwd DIR``,
    ``--quiet`` (no live output). With a cell, the cell body is the script.
    """
    head, sep, command = f" {line.rstrip()} ".partition(" -- ")
    command = command.strip()
    words = head.split()
    if not words:
        raise WorkbenchError("Name the targets: %workbench run web-* -- uname -r")
    targets, flags = words[0], words[1:]
    if cell is not None:
        if command.strip():
            raise WorkbenchError(
                "Give the command after -- or as the cell body, not both"
            )
        command = cell
    if not command.strip():
        raise WorkbenchError("No command: %workbench run TARGETS -- COMMAND")
    options, quiet = _flags(flags)
    if options.pop("sudo", False):
        import getpass

        options["sudo_password"] = getpass.getpass("sudo password: ")
    view = LiveView(quiet=quiet)
    return run_blocking(wb, run_body(targets, command, **options), view)


def _flags(flags: list[str]) -> tuple[dict[str, Any], bool]:
    options: dict[str, Any] = {}
    quiet = False
    names: dict[str, tuple[str, Callable[[str], Any]]] = {
        "--timeout": ("command_timeout", float),
        "--concurrency": ("concurrency", int),
        "--connect-timeout": ("connect_timeout", float),
        "--budget": ("error_budget", _budget),
        "--cwd": ("cwd", str),
    }
    it = iter(flags)
    for flag in it:
        if flag == "--quiet":
            quiet = True
        elif flag == "--sudo":
            options["sudo"] = True
        elif flag in names:
            name, kind = names[flag]
            value = next(it, None)
            if value is None:
                raise WorkbenchError(f"{flag} needs a value")
            try:
                options[name] = kind(value)
            except ValueError:
                raise WorkbenchError(f"{flag} {value!r}: not a valid value") from None
        else:
            raise WorkbenchError(
                f"Unknown option {flag}; known: --timeout, --concurrency, "
                "--connect-timeout, --budget, --cwd, --sudo, --quiet"
            )
    return options, quiet


def _budget(value: str) -> int | str:
    return value if value.endswith("%") else int(value)


__all__ = [
    "HostOutcome",
    "LiveView",
    "RunResult",
    "arun",
    "run_blocking",
    "run_body",
    "run_magic",
    "transport_for",
]
