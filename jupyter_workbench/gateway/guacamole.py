"""The Guacamole protocol: instruction codec and a client for guacd.

An instruction is a list of elements, each ``LENGTH.VALUE``, separated by
``,`` and ended by ``;``; the first element is the opcode::

    4.size,1.0,4.1024,3.768;

The published protocol counts LENGTH in Unicode code points of the value
(guacd does exactly that, on UTF-8 bytes). The guacamole-common-js build
on npm (1.5.0) counts UTF-16 code units instead, because it measures
JavaScript strings; the two differ only for characters outside the Basic
Multilingual Plane (most emoji). The codec therefore takes the unit to
count in: code points towards guacd, UTF-16 units towards the browser,
and the tunnel re-encodes every instruction it relays.

guacd handshake (protocol 1.1 and later), client first::

    select,rdp            ->
                          <- args,VERSION_1_5_0,hostname,port,...
    size,W,H,DPI          ->
    audio / video / image ->   (mimetypes the client can play)
    timezone,Europe/Paris ->
    connect,<version>,<value for each arg, in args order>  ->
                          <- ready,$connection-id

After ``ready`` both sides exchange instructions freely. guacd reports a
failure with ``error,<text>,<status code>`` and closes the connection.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import Unreachable, WorkbenchError
from .network import NetworkRules, resolve_checked

log = logging.getLogger(__name__)

Instruction = tuple[str, ...]

CODE_POINTS = "code points"
UTF16_UNITS = "UTF-16 units"

#: The protocol version this client speaks; guacd answers with its own in ``args``.
PROTOCOL_VERSION = "VERSION_1_5_0"
#: An instruction larger than this is refused: guacd's own limit is far lower.
MAX_INSTRUCTION = 4 * 1024 * 1024
_MAX_LENGTH_DIGITS = 10
READ_SIZE = 64 * 1024

#: Guacamole status codes and what they mean for somebody opening a desktop.
STATUS_MEANINGS: dict[int, tuple[str, str]] = {
    0x0000: ("SUCCESS", "The session ended normally"),
    0x0100: ("UNSUPPORTED", "guacd does not support what was asked"),
    0x0200: ("SERVER_ERROR", "guacd failed internally: its log says why"),
    0x0201: ("SERVER_BUSY", "guacd is too busy to open another session; try later"),
    0x0202: (
        "UPSTREAM_TIMEOUT",
        "The remote desktop server is not answering; check that it is running "
        "and that the RDP port is open from the guacd host",
    ),
    0x0203: (
        "UPSTREAM_ERROR",
        "The remote desktop server reported an error; check its event log",
    ),
    0x0204: ("RESOURCE_NOT_FOUND", "The requested resource does not exist"),
    0x0205: ("RESOURCE_CONFLICT", "The requested resource is already in use"),
    0x0206: ("RESOURCE_CLOSED", "The requested resource is closed"),
    0x0207: (
        "UPSTREAM_NOT_FOUND",
        "guacd cannot reach the remote desktop server; check the instance's "
        "address, and that TCP 3389 is open from the guacd host",
    ),
    0x0208: (
        "UPSTREAM_UNAVAILABLE",
        "The remote desktop server refuses more sessions right now (its "
        "session limit, or it is starting); try again later",
    ),
    0x0209: (
        "SESSION_CONFLICT",
        "The Windows session was taken over by another login of the same user",
    ),
    0x020A: ("SESSION_TIMEOUT", "The Windows session ended after being idle"),
    0x020B: ("SESSION_CLOSED", "The Windows session was closed by an administrator"),
    0x0300: (
        "CLIENT_BAD_REQUEST",
        "The connection settings are not valid for this server (the security "
        "mode, perhaps)",
    ),
    0x0301: (
        "CLIENT_UNAUTHORIZED",
        "The remote desktop server refused the user name or password; check "
        "them and the domain",
    ),
    0x0303: (
        "CLIENT_FORBIDDEN",
        "The user may not log in to this server by remote desktop (ask an "
        "administrator to add them to 'Remote Desktop Users')",
    ),
    0x0308: ("CLIENT_TIMEOUT", "The browser stopped answering and was disconnected"),
    0x030D: ("CLIENT_OVERRUN", "The browser sent too much data"),
    0x030F: ("CLIENT_BAD_TYPE", "The browser sent data of an unsupported type"),
    0x031D: (
        "CLIENT_TOO_MANY",
        "This user has too many remote desktop sessions open; close one",
    ),
}


class GuacamoleProtocolError(WorkbenchError):
    """Bytes that are not valid Guacamole instructions, or an unexpected reply."""

    code = "guacamole_protocol"


class GuacdUnreachable(Unreachable):
    """guacd itself cannot be reached (refused, timed out, not configured)."""

    code = "unreachable"


class GuacdError(WorkbenchError):
    """guacd reported an ``error`` instruction; ``details['status']`` is its code."""

    code = "rdp_error"


def describe_status(status: int, text: str = "") -> str:
    """Return a sentence for a Guacamole status code, with guacd's own text."""
    name, meaning = STATUS_MEANINGS.get(
        status, ("UNKNOWN", f"guacd reported status {status:#06x}")
    )
    said = f' (guacd said: "{text}")' if text else ""
    return f"{meaning}{said} [{name}]"


def element_length(value: str, units: str = CODE_POINTS) -> int:
    """Return the length of *value* as the protocol counts it in *units*."""
    if units == UTF16_UNITS:
        return len(value) + sum(1 for c in value if ord(c) > 0xFFFF)
    return len(value)


def encode(instruction: Sequence[str], units: str = CODE_POINTS) -> str:
    """Encode one instruction (opcode first) as protocol text.

    Raises
    ------
    ValueError
        When the instruction is empty or an element is not a string.
    """
    if not instruction:
        raise ValueError("An instruction needs at least an opcode")
    parts = []
    for element in instruction:
        if not isinstance(element, str):
            raise ValueError(f"Instruction elements must be strings, not {element!r}")
        parts.append(f"{element_length(element, units)}.{element}")
    return ",".join(parts) + ";"


def decode(text: str, units: str = CODE_POINTS) -> list[Instruction]:
    """Decode text that holds whole instructions.

    Raises
    ------
    GuacamoleProtocolError
        When the text is malformed or ends inside an instruction.
    """
    parser = InstructionParser(units)
    instructions = parser.feed(text)
    if parser.pending:
        raise GuacamoleProtocolError(
            f"Incomplete Guacamole instruction at the end of {_excerpt(text)}"
        )
    return instructions


class InstructionParser:
    """Reassemble instructions from text that arrives in arbitrary pieces.

    Parameters
    ----------
    units
        What element lengths count: `CODE_POINTS` (guacd) or `UTF16_UNITS`
        (guacamole-common-js).
    max_instruction
        Refuse instructions longer than this many characters.
    """

    def __init__(
        self, units: str = CODE_POINTS, *, max_instruction: int = MAX_INSTRUCTION
    ) -> None:
        self.units = units
        self.max_instruction = max_instruction
        self._buffer = ""
        self._elements: list[str] = []
        self._consumed = 0

    @property
    def pending(self) -> bool:
        """Whether part of an instruction is waiting for more text."""
        return bool(self._buffer or self._elements)

    def feed(self, text: str) -> list[Instruction]:
        """Add *text* and return the instructions it completes.

        Raises
        ------
        GuacamoleProtocolError
            On a malformed length, a bad terminator, or an oversized
            instruction; the parser must not be used afterwards.
        """
        self._buffer += text
        done: list[Instruction] = []
        while True:
            element = self._next_element()
            if element is None:
                break
            value, terminator = element
            self._elements.append(value)
            if terminator == ";":
                done.append(tuple(self._elements))
                self._elements = []
                self._consumed = 0
        if self._consumed + len(self._buffer) > self.max_instruction:
            raise GuacamoleProtocolError(
                f"A Guacamole instruction is longer than {self.max_instruction} "
                "characters; refusing it"
            )
        return done

    def _next_element(self) -> tuple[str, str] | None:
        buffer = self._buffer
        dot = buffer.find(".", 0, _MAX_LENGTH_DIGITS + 1)
        if dot < 0:
            if len(buffer) > _MAX_LENGTH_DIGITS or not buffer.isdigit() and buffer:
                raise GuacamoleProtocolError(
                    f"Malformed Guacamole element length in {_excerpt(buffer)}"
                )
            return None
        digits = buffer[:dot]
        if not digits or not (digits.isascii() and digits.isdigit()):
            raise GuacamoleProtocolError(
                f"Malformed Guacamole element length {digits!r} in {_excerpt(buffer)}"
            )
        length = int(digits)
        if length > self.max_instruction:
            raise GuacamoleProtocolError(
                f"A Guacamole element of {length} characters is too long; refusing it"
            )
        end = self._value_end(buffer, dot + 1, length)
        if end is None or end >= len(buffer):
            return None
        terminator = buffer[end]
        if terminator not in ",;":
            raise GuacamoleProtocolError(
                f"Guacamole element of length {length} is followed by {terminator!r}, "
                f"not ',' or ';' in {_excerpt(buffer)}"
            )
        value = buffer[dot + 1 : end]
        self._consumed += end + 1
        self._buffer = buffer[end + 1 :]
        return value, terminator

    def _value_end(self, buffer: str, start: int, length: int) -> int | None:
        """Return the index just past *length* units from *start*, if available."""
        if self.units == CODE_POINTS:
            return start + length
        index, counted = start, 0
        while counted < length:
            if index >= len(buffer):
                return None
            counted += 2 if ord(buffer[index]) > 0xFFFF else 1
            index += 1
        if counted != length:
            raise GuacamoleProtocolError(
                "A Guacamole element length ends inside a surrogate pair"
            )
        return index


def _excerpt(text: str, limit: int = 40) -> str:
    shown = text[:limit]
    return repr(shown) + ("…" if len(text) > limit else "")


@dataclass(frozen=True)
class Display:
    """What the browser can show: size in pixels, resolution, and formats."""

    width: int = 1024
    height: int = 768
    dpi: int = 96
    audio: tuple[str, ...] = ()
    video: tuple[str, ...] = ()
    image: tuple[str, ...] = ("image/png", "image/jpeg", "image/webp")
    timezone: str = ""


class GuacdConnection:
    """One connection to guacd, speaking instructions in code points.

    Use `open` to connect and `handshake` to start a session; then `read`
    and `send` relay instructions until `close`.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._parser = InstructionParser(CODE_POINTS)
        self._ready: list[Instruction] = []
        self.protocol_version = "VERSION_1_0_0"
        self.connection_id = ""

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        rules: NetworkRules | None = None,
        timeout: float = 10.0,
    ) -> GuacdConnection:
        """Connect to guacd at *host*:*port* (checked against *rules*).

        Raises
        ------
        GuacdUnreachable
            When guacd refuses the connection, does not answer, or its name
            does not resolve.
        NetworkRefused
            When the network rules forbid guacd's address.
        """
        address = host
        if rules is not None:
            try:
                checked, _rule = await resolve_checked(host, port, rules)
            except Unreachable as exc:
                raise GuacdUnreachable(
                    f"guacd's address {host} does not resolve: check "
                    "WorkbenchApp.guacd_host",
                    reason="dns",
                    host=host,
                    port=port,
                ) from exc
            address = str(checked)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port), timeout
            )
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise GuacdUnreachable(
                f"guacd at {host}:{port} did not answer within {timeout:g} s: check "
                "that guacd is running there (WorkbenchApp.guacd_host and guacd_port)",
                reason="timeout",
                host=host,
                port=port,
            ) from exc
        except OSError as exc:
            reason = "refused" if isinstance(exc, ConnectionRefusedError) else "error"
            raise GuacdUnreachable(
                f"Cannot connect to guacd at {host}:{port} ({exc.strerror or exc}): "
                "start guacd (for example its container image guacamole/guacd) or "
                "set WorkbenchApp.guacd_host and guacd_port to where it runs",
                reason=reason,
                host=host,
                port=port,
            ) from exc
        log.debug("Connected to guacd at %s:%s", host, port)
        return cls(reader, writer)

    async def handshake(
        self,
        protocol: str,
        parameters: Mapping[str, str],
        display: Display,
        *,
        timeout: float = 20.0,
    ) -> str:
        """Select *protocol*, answer guacd's ``args`` from *parameters*, await ``ready``.

        Arguments that guacd asks for and *parameters* lacks are sent empty,
        as the protocol requires. Returns guacd's connection id.

        Raises
        ------
        GuacdError
            When guacd answers with an ``error`` instruction (bad credentials,
            unreachable RDP server, ...), with the meaning of its status code.
        GuacamoleProtocolError
            When guacd answers something other than the handshake expects.
        """
        try:
            return await asyncio.wait_for(
                self._handshake(protocol, parameters, display), timeout
            )
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise GuacdUnreachable(
                f"guacd did not finish the {protocol} handshake within {timeout:g} s: "
                "the remote desktop server may be slow or unreachable from guacd",
                reason="timeout",
            ) from exc

    async def _handshake(
        self, protocol: str, parameters: Mapping[str, str], display: Display
    ) -> str:
        await self.send(("select", protocol))
        args = await self._expect("args")
        names = list(args[1:])
        if names and names[0].startswith("VERSION_"):
            self.protocol_version = names.pop(0)

        await self.send(
            ("size", str(display.width), str(display.height), str(display.dpi))
        )
        await self.send(("audio", *display.audio))
        await self.send(("video", *display.video))
        await self.send(("image", *display.image))
        if self.protocol_version != "VERSION_1_0_0" and display.timezone:
            await self.send(("timezone", display.timezone))

        values = [parameters.get(name, "") for name in names]
        if self.protocol_version != "VERSION_1_0_0":
            values.insert(0, PROTOCOL_VERSION)
        await self.send(("connect", *values))

        ready = await self._expect("ready")
        self.connection_id = ready[1] if len(ready) > 1 else ""
        log.info(
            "guacd opened %s connection %s (%s)",
            protocol,
            self.connection_id,
            self.protocol_version,
        )
        return self.connection_id

    async def _expect(self, opcode: str) -> Instruction:
        while True:
            instruction = await self.read()
            if instruction is None:
                raise GuacamoleProtocolError(
                    f"guacd closed the connection while the workbench waited for "
                    f"'{opcode}': check guacd's log"
                )
            if instruction[0] == opcode:
                return instruction
            if instruction[0] == "error":
                raise error_from(instruction)
            if instruction[0] in ("nop", "log", "msg"):
                continue
            raise GuacamoleProtocolError(
                f"guacd sent '{instruction[0]}' where '{opcode}' was expected"
            )

    async def read(self) -> Instruction | None:
        """Return the next instruction from guacd, or None when it closed.

        Raises
        ------
        GuacamoleProtocolError
            When guacd sends malformed data (or invalid UTF-8).
        """
        while not self._ready:
            try:
                data = await self._reader.read(READ_SIZE)
            except ConnectionError:
                data = b""
            if not data:
                if self._parser.pending:
                    log.warning("guacd closed the connection inside an instruction")
                return None
            try:
                text = self._decoder.decode(data)
            except UnicodeDecodeError as exc:
                raise GuacamoleProtocolError(
                    f"guacd sent invalid UTF-8: {exc}"
                ) from exc
            self._ready.extend(self._parser.feed(text))
        return self._ready.pop(0)

    def read_buffered(self) -> list[Instruction]:
        """Return the instructions already parsed and not yet read."""
        ready, self._ready = self._ready, []
        return ready

    async def send(self, instruction: Sequence[str]) -> None:
        """Send one instruction to guacd."""
        await self.send_many((instruction,))

    async def send_many(self, instructions: Iterable[Sequence[str]]) -> None:
        """Send instructions to guacd and wait until they are written."""
        text = "".join(encode(i, CODE_POINTS) for i in instructions)
        self._writer.write(text.encode("utf-8"))
        await self._writer.drain()

    def close(self) -> None:
        """Close the connection to guacd."""
        self._writer.close()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def error_from(instruction: Instruction) -> GuacdError:
    """Turn guacd's ``error,<text>,<status>`` into a `GuacdError`."""
    text = instruction[1] if len(instruction) > 1 else ""
    try:
        status = int(instruction[2]) if len(instruction) > 2 else 0x0200
    except ValueError:
        status = 0x0200
    return GuacdError(
        describe_status(status, text),
        status=status,
        status_name=STATUS_MEANINGS.get(status, ("UNKNOWN", ""))[0],
        guacd_message=text,
    )
