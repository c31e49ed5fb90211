"""A STAND-IN for guacd, written from the published Guacamole protocol description.

guacd (Apache Guacamole's proxy daemon) is not packaged for this Debian, nor
on PyPI or npm, so the tests cannot run the real one. This stand-in is a
real TCP server on 127.0.0.1 that speaks the guacd side of the protocol as
documented ("The Guacamole protocol" chapter and its instruction reference):

- the handshake: ``select`` -> ``args`` (protocol version first), then
  ``size``/``audio``/``video``/``image``/``timezone`` in any order, then
  ``connect`` with one value per argument -> ``ready``;
- a display: ``size`` of the default layer, a PNG drawn with an ``img``
  stream (``img`` + ``blob`` + ``end``), the connection's ``name`` (with
  characters outside the BMP), and ``sync``;
- it records every instruction the client sends after ``ready`` (``key``,
  ``mouse``, ``size``, ``clipboard``/``blob``/``end``, ``sync``, ``nop``),
  answers a ``size`` by resizing and redrawing, and can send ``error``
  instructions and clipboard streams;
- it splits what it writes at random byte offsets (inside multi-byte UTF-8
  characters too) so that clients must reassemble instructions.

It does not speak RDP: there is no Windows server behind it. A connect with
a password other than `password` (when set) is refused with status 0x0301,
as guacd does when the RDP server refuses the credentials.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import random
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

VERSION = "VERSION_1_5_0"
RDP_ARGS = (
    "hostname",
    "port",
    "domain",
    "username",
    "password",
    "width",
    "height",
    "dpi",
    "security",
    "ignore-cert",
    "resize-method",
    "client-name",
)
#: The two colours of the test image: left half, right half.
LEFT = (220, 20, 60)
RIGHT = (30, 90, 200)
#: The connection name: CJK, a BMP symbol, and an emoji outside the BMP.
NAME = "Windows ✓ 桌面 🖥"
BLOB_SIZE = 6048

Instruction = tuple[str, ...]


def encode(*elements: str) -> str:
    """Encode one instruction; lengths in Unicode code points, as guacd counts."""
    return ",".join(f"{len(e)}.{e}" for e in elements) + ";"


def parse(buffer: str) -> tuple[list[Instruction], str]:
    """Return the complete instructions in *buffer* and the unparsed rest."""
    done: list[Instruction] = []
    start = position = 0
    elements: list[str] = []
    while True:
        dot = buffer.find(".", position)
        if dot < 0:
            break
        length = int(buffer[position:dot])
        end = dot + 1 + length
        if end >= len(buffer):
            break
        if buffer[end] not in ",;":
            raise ValueError(f"bad terminator {buffer[end]!r}")
        elements.append(buffer[dot + 1 : end])
        position = end + 1
        if buffer[end] == ";":
            done.append(tuple(elements))
            elements, start = [], position
    return done, buffer[start:]


def png(width: int, height: int) -> bytes:
    """Return a PNG whose left half is `LEFT` and right half `RIGHT`."""
    half = width // 2
    row = bytes(LEFT) * half + bytes(RIGHT) * (width - half)
    raw = b"".join(b"\0" + row for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class Connection:
    """One client connection to the stand-in."""

    writer: asyncio.StreamWriter
    handshake: list[Instruction] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    received: list[Instruction] = field(default_factory=list)
    width: int = 0
    height: int = 0
    stream: int = 1
    closed: bool = False
    #: Whole instructions at a time: two writers must not interleave pieces.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class GuacdStandIn:
    """The stand-in guacd, on its own event loop in a thread.

    Attributes
    ----------
    password : str or None
        When set, ``connect`` with another password gets ``error`` 0x0301.
    fail : tuple or None
        ``(text, status)``: answer every ``connect`` with this ``error``.
    connections : list of Connection
        Every connection made, in order.
    """

    def __init__(self, *, seed: int = 7, split: bool = True) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.password: str | None = None
        self.fail: tuple[str, int] | None = None
        self.split = split
        self.connections: list[Connection] = []
        self._random = random.Random(seed)
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> GuacdStandIn:
        """Listen on a free loopback port (`port`)."""
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve, self.host, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket; end the thread."""

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for connection in self.connections:
                connection.writer.close()
            for connection in self.connections:
                try:
                    await connection.writer.wait_closed()
                except OSError:
                    pass
            await self._server.wait_closed()

        self._call(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- what tests use ---------------------------------------------------

    def wait_for(
        self, predicate: Callable[[Instruction], bool], timeout: float = 15.0
    ) -> Instruction:
        """Return the first received instruction matching *predicate*."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for connection in self.connections:
                    for instruction in connection.received:
                        if predicate(instruction):
                            return instruction
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.received[-20:] for c in self.connections]
                    raise AssertionError(f"the stand-in never received it; saw {seen}")
                self._changed.wait(left)

    async def received(
        self, predicate: Callable[[Instruction], bool], timeout: float = 15.0
    ) -> Instruction:
        """`wait_for` for tests whose event loop must keep running meanwhile."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    async def closed(self, connection: Connection, timeout: float = 15.0) -> None:
        """`wait_closed` for tests whose event loop must keep running meanwhile."""
        await asyncio.to_thread(self.wait_closed, connection, timeout)

    def wait_connected(self, timeout: float = 15.0) -> Connection:
        """Return the first connection that finished its handshake."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for connection in self.connections:
                    if connection.parameters:
                        return connection
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no client finished the handshake")
                self._changed.wait(left)

    def wait_closed(self, connection: Connection, timeout: float = 15.0) -> None:
        """Wait until the client closed *connection*."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not connection.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the client kept the connection open")
                self._changed.wait(left)

    def send_error(self, text: str, status: int) -> None:
        """Send ``error`` to every open connection."""
        for connection in list(self.connections):
            self._call(self._write(connection, encode("error", text, str(status))))

    def send_clipboard(self, text: str) -> None:
        """Send *text* as a ``text/plain`` clipboard stream to every connection."""
        for connection in list(self.connections):
            connection.stream += 1
            index = str(connection.stream)
            data = base64.b64encode(text.encode("utf-8")).decode()
            self._call(
                self._write(
                    connection,
                    encode("clipboard", index, "text/plain")
                    + encode("blob", index, data)
                    + encode("end", index),
                )
            )

    def clipboard_texts(self) -> list[str]:
        """Return the text clipboard streams the clients sent, decoded."""
        texts = []
        for connection in self.connections:
            streams: dict[str, str] = {}
            for instruction in connection.received:
                opcode, *args = instruction
                if opcode == "clipboard" and args[1] == "text/plain":
                    streams[args[0]] = ""
                elif opcode == "blob" and args[0] in streams:
                    streams[args[0]] += args[1]
                elif opcode == "end" and args[0] in streams:
                    texts.append(base64.b64decode(streams.pop(args[0])).decode())
        return texts

    # -- the protocol -----------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = Connection(writer)
        with self._changed:
            self.connections.append(connection)
        buffer = ""
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                buffer += decoder.decode(data)
                instructions, buffer = parse(buffer)
                for instruction in instructions:
                    if not await self._handle(connection, instruction):
                        return
        except (ConnectionError, ValueError):
            return
        finally:
            writer.close()
            with self._changed:
                connection.closed = True
                self._changed.notify_all()

    async def _handle(self, connection: Connection, instruction: Instruction) -> bool:
        opcode = instruction[0]
        if not connection.parameters:
            connection.handshake.append(instruction)
            if opcode == "select":
                if instruction[1:] != ("rdp",):
                    await self._write(
                        connection, encode("error", "Unsupported protocol", "256")
                    )
                    return False
                await self._write(connection, encode("args", VERSION, *RDP_ARGS))
            elif opcode == "connect":
                return await self._connected(connection, instruction)
            return True

        with self._changed:
            connection.received.append(instruction)
            self._changed.notify_all()
        if opcode == "size" and len(instruction) >= 3:
            connection.width = int(instruction[1])
            connection.height = int(instruction[2])
            await self._draw(connection)
        return opcode != "disconnect"

    async def _connected(
        self, connection: Connection, instruction: Instruction
    ) -> bool:
        values = list(instruction[1:])
        if values and values[0].startswith("VERSION_"):
            values.pop(0)
        parameters = dict(zip(RDP_ARGS, values, strict=True))
        if self.fail is not None:
            text, status = self.fail
            await self._write(connection, encode("error", text, str(status)))
            return False
        if self.password is not None and parameters["password"] != self.password:
            await self._write(
                connection, encode("error", "Authentication failure", str(0x0301))
            )
            return False
        size = next(i for i in connection.handshake if i[0] == "size")
        connection.width, connection.height = int(size[1]), int(size[2])
        with self._changed:
            connection.parameters = parameters
            self._changed.notify_all()
        await self._write(connection, encode("ready", "$stand-in-1"))
        await self._write(connection, encode("name", NAME))
        await self._draw(connection)
        return True

    async def _draw(self, connection: Connection) -> None:
        connection.stream += 1
        index = str(connection.stream)
        image = base64.b64encode(png(connection.width, connection.height)).decode()
        # Large images travel as several blobs, as guacd sends them.
        blobs = "".join(
            encode("blob", index, image[i : i + BLOB_SIZE])
            for i in range(0, len(image), BLOB_SIZE)
        )
        await self._write(
            connection,
            encode("size", "0", str(connection.width), str(connection.height))
            + encode("img", index, "14", "0", "image/png", "0", "0")
            + blobs
            + encode("end", index)
            + encode("sync", str(int(time.time() * 1000))),
        )

    async def _write(self, connection: Connection, text: str) -> None:
        async with connection.lock:
            await self._write_split(connection.writer, text.encode("utf-8"))

    async def _write_split(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if writer.is_closing():
            return
        if not self.split:
            writer.write(data)
            await writer.drain()
            return
        position = 0
        while position < len(data):
            step = self._random.randint(1, 64)
            writer.write(data[position : position + step])
            await writer.drain()
            # Now and then let the piece leave on its own before the next.
            if self._random.random() < 0.2:
                await asyncio.sleep(0.001)
            position += step
