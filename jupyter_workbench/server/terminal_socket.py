"""The terminal websocket, speaking terminado-style JSON arrays.

See ``docs/api.md``: ``["stdin", text]``, ``["set_size", rows, cols]`` and
``["ping"]`` come in; ``["setup", {...}]``, ``["stdout", text]``,
``["disconnect", reason]`` and ``["pong"]`` go out. Closing the socket
detaches from the session; it does not end the shell.
"""

from __future__ import annotations

import json
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
        for message in self.session.attach(self._send):
            await self._send(message)

    async def on_message(self, message: str | bytes) -> None:
        if self.session is None:
            return
        try:
            command = json.loads(message)
        except ValueError:
            return
        if not isinstance(command, list) or not command:
            return
        kind = command[0]
        if kind == "stdin" and len(command) > 1 and isinstance(command[1], str):
            self.session.write(command[1])
        elif kind == "set_size" and len(command) > 2:
            try:
                self.session.resize(int(command[1]), int(command[2]))
            except (TypeError, ValueError):
                return
        elif kind == "ping":
            await self._send(["pong"])

    def on_close(self) -> None:
        super().on_close()
        if self.session is not None:
            self.session.detach(self._send)

    def get_compression_options(self) -> dict[str, Any] | None:
        return {}

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE

    async def _send(self, message: Message) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            raise WebSocketClosedError()
        await self.write_message(json.dumps(message))
        if message[0] == "disconnect":
            self.close()
