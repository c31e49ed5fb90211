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
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import anywidget
import traitlets

from ..gateway.errors import WorkbenchError
from .backends import Backend, RestBackend

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

    def write(self, text: str) -> None:
        """Type *text* into the terminal, through every browser that shows it.

        Nothing is sent while no browser shows the widget.
        """
        self.send({"type": "stdin", "text": text})

    def info(self) -> dict[str, Any]:
        """Return the session as the server describes it (``GET terminals/{id}``)."""
        result: dict[str, Any] = self._call(
            terminal_info(self._need_backend(), self.terminal_id)
        )
        return result

    def close_terminal(self) -> None:
        """End the session on the server: its shell gets a hang-up."""
        self._call(close_terminal(self._need_backend(), self.terminal_id))

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._run is None:
            coro.close()
            raise TerminalWidgetUnavailable(
                "This widget was made without a Workbench: use wb.terminal(...)"
            )
        return self._run(coro)

    def _need_backend(self) -> RestBackend:
        return _rest(self._backend)


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
    TerminalWidgetUnavailable
        When the client runs the gateway in-process.
    """
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
    path = f"terminals/{quote(terminal_id, safe='')}"
    answer: dict[str, Any] = await _rest(backend)._call("GET", path)
    return answer


async def list_terminals(backend: Backend) -> list[dict[str, Any]]:
    """Return this user's live terminal sessions on the server, oldest first."""
    answer = await _rest(backend)._call("GET", "terminals")
    return list(answer["terminals"])


async def close_terminal(backend: Backend, terminal_id: str) -> None:
    """End one session (``DELETE terminals/{id}``)."""
    path = f"terminals/{quote(terminal_id, safe='')}"
    await _rest(backend)._call("DELETE", path)


def terminal_widget(
    backend: Backend,
    session: dict[str, Any],
    *,
    call: Callable[[Coroutine[Any, Any, Any]], Any] | None = None,
    height: str = "360px",
    screen_reader: bool = False,
) -> TerminalWidget:
    """Return a widget showing *session* (an answer of `open_terminal`)."""
    rest = _rest(backend)
    return TerminalWidget(
        backend=rest,
        call=call,
        terminal_id=session["id"],
        instance=session.get("instance", ""),
        login_user=session.get("login_user") or "",
        base_path=base_path(rest),
        height=height,
        screen_reader=screen_reader,
    )


def base_path(backend: RestBackend) -> str:
    """Return the server's base path (``/user/alice/``) from the client's URL."""
    path = urlsplit(backend.url).path
    suffix = "workbench/api/v1/"
    return path[: -len(suffix)] if path.endswith(suffix) else "/"


def _rest(backend: Backend | None) -> RestBackend:
    if isinstance(backend, RestBackend):
        return backend
    raise TerminalWidgetUnavailable(
        "The terminal widget needs the Jupyter server: this Workbench runs its "
        "gateway in-process. Run the notebook in JupyterLab or Notebook 7 with "
        "the workbench extension, or pass Workbench(url=..., token=...)"
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
