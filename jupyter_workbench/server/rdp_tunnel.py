"""The remote desktop tunnel: guacamole-common-js's WebSocketTunnel, relayed to guacd.

The browser connects to ``rdp/{session}/tunnel`` with the ``guacamole``
subprotocol. The server answers first with the tunnel's UUID (an
instruction whose opcode is the empty string), connects to guacd and runs
the handshake with the credentials it holds, then relays instructions
both ways. Messages to the browser carry whole instructions only, because
the browser's tunnel parses each message on its own.

Instructions with the empty opcode are the tunnel's own: ``ping`` is
echoed and never reaches guacd. guacd's ``error`` instructions reach the
browser with a sentence that says what the status code means.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from jupyter_core.utils import ensure_async
from tornado import web
from tornado.websocket import WebSocketClosedError

from ..gateway.errors import WorkbenchError
from ..gateway.guacamole import (
    UTF16_UNITS,
    GuacamoleProtocolError,
    GuacdConnection,
    Instruction,
    InstructionParser,
    describe_status,
    encode,
)
from ..gateway.rdp import RDPRequest, RDPService
from .rdp import display_from_query
from .socket_base import WorkbenchSocketHandler

SUBPROTOCOL = "guacamole"
INTERNAL = ""
#: Seconds of silence after which a ``nop`` keeps each side of the tunnel alive.
KEEPALIVE = 5.0
MAX_MESSAGE = 4 * 1024 * 1024
#: guacamole-common-js counts lengths in UTF-16 units (see gateway/guacamole.py).
BROWSER_UNITS = UTF16_UNITS
#: Status codes sent with errors the workbench itself detects.
UPSTREAM_NOT_FOUND = 0x0207
SERVER_ERROR = 0x0200
CLIENT_FORBIDDEN = 0x0303


class RDPTunnelHandler(WorkbenchSocketHandler):
    """Relay one remote desktop between a browser and guacd."""

    request_rdp: RDPRequest | None = None
    guacd: GuacdConnection | None = None

    async def get(self, session_id: str) -> None:
        await self.check_upgrade()
        try:
            self.request_rdp = self.rdp.claim(self.principal, session_id)
        except WorkbenchError as exc:
            raise web.HTTPError(404, reason=exc.message) from None
        await super().get(session_id)

    @property
    def rdp(self) -> RDPService:
        service: RDPService = self.settings["workbench_rdp"]
        return service

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return SUBPROTOCOL if SUBPROTOCOL in subprotocols else None

    def get_compression_options(self) -> dict[str, Any] | None:
        return {}

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE

    async def open(self, session_id: str) -> None:
        await ensure_async(super().open(session_id))
        self._parser = InstructionParser(BROWSER_UNITS)
        self._early: list[Instruction] = []
        self._sent_at = self._received_at = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        await self._send_browser([(INTERNAL, str(uuid.uuid4()))])
        self._tasks.append(asyncio.create_task(self._run()))
        self._tasks.append(asyncio.create_task(self._keepalive()))

    async def on_message(self, message: str | bytes) -> None:
        text = (
            message.decode("utf-8", "replace")
            if isinstance(message, bytes)
            else message
        )
        try:
            instructions = self._parser.feed(text)
        except GuacamoleProtocolError as exc:
            self.log.warning("RDP tunnel: malformed data from the browser: %s", exc)
            self.close(1002, str(SERVER_ERROR))
            return
        self._received_at = time.monotonic()
        upstream = []
        for instruction in instructions:
            if instruction[0] == INTERNAL:
                if instruction[1:2] == ("ping",):
                    await self._send_browser([instruction])
                continue
            upstream.append(instruction)
        if not upstream:
            return
        if self.guacd is None:
            self._early.extend(upstream)
            return
        try:
            await self.guacd.send_many(upstream)
        except (ConnectionError, OSError):
            self.close()

    def on_close(self) -> None:
        super().on_close()
        for task in self._tasks if hasattr(self, "_tasks") else []:
            task.cancel()
        if self.guacd is not None:
            self.guacd.close()

    async def _run(self) -> None:
        assert self.request_rdp is not None
        request = self.request_rdp
        display = display_from_query(self, request.display)
        try:
            self.guacd = await self.rdp.open(request, display)
        except WorkbenchError as exc:
            await self._fail(exc)
            return
        finally:
            # The password is not needed again: guacd has it now.
            request.password = ""
        self.log.info(
            "Remote desktop to %s as %s open for %s (guacd connection %s)",
            request.instance.name,
            request.username,
            request.principal,
            self.guacd.connection_id,
        )
        try:
            if self._early:
                await self.guacd.send_many(self._early)
                self._early = []
            await self._relay_from_guacd(self.guacd)
        except GuacamoleProtocolError as exc:
            self.log.warning("RDP tunnel: malformed data from guacd: %s", exc)
            await self._fail(exc)
        except (WebSocketClosedError, ConnectionError, OSError):
            pass
        finally:
            self.guacd.close()
            self.rdp.closed(request)
            await self.guacd.wait_closed()
            self.log.info("Remote desktop to %s closed", request.instance.name)
            if self.ws_connection is not None:
                self.close(1000)

    async def _relay_from_guacd(self, guacd: GuacdConnection) -> None:
        while True:
            instruction = await guacd.read()
            if instruction is None:
                return
            batch = [instruction, *guacd.read_buffered()]
            await self._send_browser([_explained(i) for i in batch])

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE / 2)
            now = time.monotonic()
            try:
                if now - self._sent_at >= KEEPALIVE:
                    await self._send_browser([("nop",)])
                if self.guacd is not None and now - self._received_at >= KEEPALIVE:
                    self._received_at = now
                    await self.guacd.send(("nop",))
            except (WebSocketClosedError, ConnectionError, OSError):
                return

    async def _fail(self, exc: WorkbenchError) -> None:
        status = exc.details.get("status")
        if not isinstance(status, int):
            status = (
                CLIENT_FORBIDDEN
                if exc.code in ("network_refused", "policy_denied")
                else (UPSTREAM_NOT_FOUND if exc.code == "unreachable" else SERVER_ERROR)
            )
        self.log.warning("Remote desktop failed: %s", exc.message)
        try:
            await self._send_browser([("error", exc.message, str(status))])
        except WebSocketClosedError:
            return
        self.close(1000)

    async def _send_browser(self, instructions: list[Instruction]) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            raise WebSocketClosedError()
        self._sent_at = time.monotonic()
        text = "".join(encode(i, BROWSER_UNITS) for i in instructions)
        await self.write_message(text)


def _explained(instruction: Instruction) -> Instruction:
    """Give guacd's ``error`` instructions a sentence saying what they mean."""
    if instruction[0] != "error" or len(instruction) < 3:
        return instruction
    try:
        status = int(instruction[2])
    except ValueError:
        return instruction
    return ("error", describe_status(status, instruction[1]), instruction[2])
