"""The terminal widget: an instance terminal in a notebook's output area.

``wb.terminal("web-1")`` opens a terminal session on the Jupyter server
(``POST terminals``) and returns a `TerminalWidget`, an anywidget whose
JavaScript (xterm.js, bundled at build time from
``labextension/src/terminalWidget.ts`` into ``static/terminal-widget.js``)
connects from the browser to the session's websocket with the page's own
Jupyter credentials. The kernel passes only the terminal id and the
server's base path; no credential is put in the widget's state.

The session lives on the server, like the Instance Terminal panel's: a
page reload, or showing the widget again, reattaches with the
scrollback, and ``wb.terminal(terminal_id=...)`` attaches a new widget to
a session that is already running (one opened from the panel, say).

With the in-process gateway there is no server for the browser to reach,
so the same channel (``setup``, ``stdout``, ``disconnect`` out; ``stdin``
and ``set_size`` in) is carried over the widget's own comm instead, by a
`KernelRelay` running on the client's loop (``transport="kernel"``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import anywidget
import traitlets

from ..gateway.errors import WorkbenchError
from ..gateway.terminals import Message, TerminalSession
from .backends import Backend, LocalBackend, RestBackend

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parents[1] / "static"
#: Built by ``jlpm build`` in labextension/ (scripts/build-widget.js).
BUNDLE = STATIC / "terminal-widget.js"
STYLE = STATIC / "terminal-widget.css"


class TerminalWidgetUnavailable(WorkbenchError):
    """The terminal widget cannot run here (no server, or the bundle is missing)."""

    code = "terminal_widget_unavailable"


@functools.cache
def _asset(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class TerminalWidget(anywidget.AnyWidget):
    """An xterm.js view of one terminal session on the Jupyter server.

    Attributes
    ----------
    terminal_id
        The session's id on the server (``GET terminals`` lists them).
    instance, login_user
        Where the session runs, and as whom.
    status
        Set by the browser: ``connecting``, ``connected`` or ``ended``
        (empty until a browser has shown the widget).
    end_reason
        Set by the browser when the session ended: the remote exit status,
        the dropped connection's reason, or "closed by the user".
    """

    terminal_id = traitlets.Unicode("").tag(sync=True)
    instance = traitlets.Unicode("").tag(sync=True)
    login_user = traitlets.Unicode("").tag(sync=True)
    #: The server's base path as the kernel sees it; the browser prefers
    #: its own page config and uses this only when the page has none.
    base_path = traitlets.Unicode("/").tag(sync=True)
    #: The CSS height of the screen; the number of rows follows from it.
    height = traitlets.Unicode("360px").tag(sync=True)
    #: xterm.js's screen-reader mode: the rows mirrored as text in the DOM.
    screen_reader = traitlets.Bool(False).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    end_reason = traitlets.Unicode("").tag(sync=True)
    #: ``server``: the browser opens the server's websocket; ``kernel``: the
    #: channel goes over this widget's comm (the in-process gateway).
    transport = traitlets.Unicode("server").tag(sync=True)

    def __init__(
        self,
        *,
        backend: Backend | None = None,
        call: Callable[[Coroutine[Any, Any, Any]], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not BUNDLE.exists():
            raise TerminalWidgetUnavailable(
                f"The terminal widget's bundle {BUNDLE} is missing: build it with "
                "'jlpm build' in labextension/ (pip install -e . does this)"
            )
        # Given per instance, not on the class as anywidget's examples do: a
        # class attribute is read at import, and a checkout whose bundle was
        # never built could not even import this module.
        self._esm = _asset(BUNDLE)
        self._css = _asset(STYLE)
        super().__init__(**kwargs)
        self._backend = backend
        # Runs a coroutine on the client's own loop, where its HTTP client is.
        self._run = call
        self._relay: KernelRelay | None = None

    def write(self, text: str) -> None:
        """Type *text* into the terminal, through every browser that shows it.

        Nothing is sent while no browser shows the widget.
        """
        self.send({"type": "stdin", "text": text})

    def info(self) -> dict[str, Any]:
        """Return the session as the gateway describes it (``GET terminals/{id}``)."""
        result: dict[str, Any] = self._call(
            terminal_info(self._need_backend(), self.terminal_id)
        )
        return result

    def close_terminal(self) -> None:
        """End the session: its shell gets a hang-up."""
        self._call(close_terminal(self._need_backend(), self.terminal_id))

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._run is None:
            coro.close()
            raise TerminalWidgetUnavailable(
                "This widget was made without a Workbench: use wb.terminal(...)"
            )
        return self._run(coro)

    def _need_backend(self) -> Backend:
        if self._backend is None:
            raise TerminalWidgetUnavailable(
                "This widget was made without a Workbench: use wb.terminal(...)"
            )
        return self._backend


class KernelRelay:
    """Carry one in-process terminal session over a widget's comm.

    Each browser view of the widget sends ``{"type": "attach", "view": id}``;
    it is answered, to that view only, with ``setup`` and the scrollback,
    after which it takes the live output sent to every view. Everything
    touching the session runs on the client's loop, where the gateway's
    connections live; widget messages leave from there too (ipykernel
    sends them through its I/O thread).
    """

    def __init__(
        self,
        widget: TerminalWidget,
        backend: LocalBackend,
        terminal_id: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._widget = widget
        self._backend = backend
        self._terminal_id = terminal_id
        self._loop = loop
        self._session: TerminalSession | None = None
        widget.on_msg(self._on_msg)

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "attach":
            view = str(content.get("view", ""))
            self._loop.call_soon_threadsafe(self._attach, view)
        elif kind == "stdin" and isinstance(content.get("text"), str):
            self._loop.call_soon_threadsafe(self._write, content["text"])
        elif kind == "set_size":
            rows, cols = content.get("rows"), content.get("cols")
            if isinstance(rows, int) and isinstance(cols, int):
                self._loop.call_soon_threadsafe(self._resize, rows, cols)

    def _attach(self, view: str) -> None:
        if self._session is None:
            try:
                self._session = self._backend.gateway.attach_terminal(
                    self._backend.principal, self._terminal_id
                )
            except WorkbenchError as exc:
                self._to(view, ["disconnect", exc.message])
                return
        for message in self._session.attach(self._forward):
            self._to(view, message)
        if not self._session.alive:
            self._to(view, ["disconnect", self._session.end_reason or ""])

    def _forward(self, message: Message) -> None:
        self._to("", message)

    def _to(self, view: str, message: Message) -> None:
        data = message[1] if len(message) > 1 else None
        self._widget.send({"type": message[0], "data": data, "view": view})

    def _write(self, text: str) -> None:
        if self._session is not None:
            self._session.write(text)

    def _resize(self, rows: int, cols: int) -> None:
        if self._session is not None:
            self._session.resize(rows, cols)


async def open_terminal(
    backend: Backend,
    name: str,
    *,
    login_user: str | None = None,
    rows: int = 24,
    cols: int = 80,
) -> dict[str, Any]:
    """Open a terminal session on *name* on the server; return its description.

    Raises
    ------
    NotLoggedIn
        When this user has no login on *name*: log in first.
    """
    if isinstance(backend, LocalBackend):
        session = await backend.gateway.open_terminal(
            backend.principal, name, rows=rows, cols=cols, login_user=login_user
        )
        return session.to_dict()
    body: dict[str, Any] = {"instance": name, "rows": rows, "cols": cols}
    if login_user is not None:
        body["login_user"] = login_user
    answer: dict[str, Any] = await _rest(backend)._call("POST", "terminals", body)
    log.info("Opened terminal %s on %s for a widget", answer["id"], name)
    return answer


async def terminal_info(backend: Backend, terminal_id: str) -> dict[str, Any]:
    """Return one session; `InstanceNotFound` when it ended or never existed."""
    if not terminal_id:
        raise WorkbenchError("Give the id of a terminal (wb.terminals() lists them)")
    if isinstance(backend, LocalBackend):
        return backend.gateway.terminal(backend.principal, terminal_id).to_dict()
    path = f"terminals/{quote(terminal_id, safe='')}"
    answer: dict[str, Any] = await _rest(backend)._call("GET", path)
    return answer


async def list_terminals(backend: Backend) -> list[dict[str, Any]]:
    """Return this user's live terminal sessions, oldest first."""
    if isinstance(backend, LocalBackend):
        return [s.to_dict() for s in backend.gateway.terminals(backend.principal)]
    answer = await _rest(backend)._call("GET", "terminals")
    return list(answer["terminals"])


async def close_terminal(backend: Backend, terminal_id: str) -> None:
    """End one session (``DELETE terminals/{id}``)."""
    if isinstance(backend, LocalBackend):
        session = backend.gateway.terminal(backend.principal, terminal_id)
        await session.close("Terminal closed by the user")
        return
    path = f"terminals/{quote(terminal_id, safe='')}"
    await _rest(backend)._call("DELETE", path)


def terminal_widget(
    backend: Backend,
    session: dict[str, Any],
    *,
    loop: asyncio.AbstractEventLoop,
    height: str = "360px",
    screen_reader: bool = False,
) -> TerminalWidget:
    """Return a widget showing *session* (an answer of `open_terminal`).

    *loop* is the client's loop: the widget's calls run there, and so does
    the relay of an in-process session.
    """

    def call(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    local = isinstance(backend, LocalBackend)
    widget = TerminalWidget(
        backend=backend,
        call=call,
        terminal_id=session["id"],
        instance=session.get("instance", ""),
        login_user=session.get("login_user") or "",
        base_path="/" if local else base_path(_rest(backend)),
        transport="kernel" if local else "server",
        height=height,
        screen_reader=screen_reader,
    )
    if isinstance(backend, LocalBackend):
        widget._relay = KernelRelay(widget, backend, session["id"], loop)
    return widget


def base_path(backend: RestBackend) -> str:
    """Return the server's base path (``/user/alice/``) from the client's URL."""
    path = urlsplit(backend.url).path
    suffix = "workbench/api/v1/"
    return path[: -len(suffix)] if path.endswith(suffix) else "/"


def _rest(backend: Backend | None) -> RestBackend:
    if isinstance(backend, RestBackend):
        return backend
    raise TerminalWidgetUnavailable(
        f"This needs a Jupyter server; this Workbench uses the {backend.description}"
        if backend is not None
        else "This needs a Jupyter server"
    )


__all__ = [
    "TerminalWidget",
    "TerminalWidgetUnavailable",
    "close_terminal",
    "list_terminals",
    "open_terminal",
    "terminal_info",
    "terminal_widget",
]
