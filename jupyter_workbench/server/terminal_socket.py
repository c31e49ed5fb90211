"""The terminal websocket, speaking terminado-style JSON arrays.

See ``docs/api.md``: ``["stdin", text]``, ``["set_size", rows, cols]`` and
``["ping"]`` come in; ``["setup", {...}]``, ``["stdout", text]``,
``["disconnect", reason]`` and ``["pong"]`` go out. Closing the socket
detaches from the session; it does not end the shell.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from jupyter_core.utils import ensure_async
from tornado import web
from tornado.websocket import WebSocketClosedError

from ..gateway.errors import PolicyDenied, WorkbenchError
from ..gateway.terminals import Message, TerminalSession
from .socket_base import WorkbenchSocketHandler

MAX_MESSAGE = 1024 * 1024


class TerminalSocketHandler(WorkbenchSocketHandler):
    """Attach a browser tab or a kernel to one terminal session."""

    session: TerminalSession | None = None

    async def get(self, terminal_id: str) -> None:
        await self.check_upgrade()
        try:
            self.session = self.gateway.attach_terminal(self.principal, terminal_id)
        except PolicyDenied as exc:
            raise web.HTTPError(403, reason=exc.message) from None
        except WorkbenchError as exc:
            raise web.HTTPError(404, reason=exc.message) from None
        await super().get(terminal_id)

    async def open(self, terminal_id: str) -> None:
        await ensure_async(super().open(terminal_id))
        assert self.session is not None
        # Keystroke echoes are tiny writes: send them without Nagle's delay.
        self.set_nodelay(True)
        for message in self.session.attach(self._send):
            pending = self._send(message)
            if pending is not None:
                await pending

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        # Not a coroutine on purpose: tornado runs a coroutine handler as a
        # task, a turn of the event loop later, and every keystroke would
        # wait for that turn before it goes to the instance.
        if self.session is None:
            return None
        try:
            command = json.loads(message)
        except ValueError:
            return None
        if not isinstance(command, list) or not command:
            return None
        kind = command[0]
        if kind == "stdin" and len(command) > 1 and isinstance(command[1], str):
            self.session.write(command[1])
        elif kind == "set_size" and len(command) > 2:
            try:
                self.session.resize(int(command[1]), int(command[2]))
            except (TypeError, ValueError):
                return None
        elif kind == "ping":
            # tornado waits for a backed-up socket before the next frame.
            return self._send(["pong"])
        return None

    def on_close(self) -> None:
        super().on_close()
        if self.session is not None:
            self.session.detach(self._send)

    def get_compression_options(self) -> dict[str, Any] | None:
        return {}

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE

    def _send(self, message: Message) -> Awaitable[None] | None:
        """Write one message now; return what to wait for if it is not sent yet.

        tornado writes the frame at once and hands back a future that only
        says when the kernel took it. Most of the time it took it already,
        and waiting for that future would cost a task and a turn of the event
        loop per message: return None then (see `TerminalSession._broadcast`).
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            raise WebSocketClosedError()
        flushed = self.write_message(json.dumps(message))
        if message[0] == "disconnect":
            self.close()
            return None
        stream = getattr(connection, "stream", None)
        if stream is not None and not stream.writing():
            return None
        return flushed
