"""Remote PTY shells that outlive the browser tab that opened them.

A `TerminalSession` owns one shell channel on a pooled connection. Output
is decoded once, with an incremental UTF-8 decoder so a character split
between two reads arrives whole, kept in a bounded scrollback, and sent to
every attached watcher. A watcher that attaches later (a reloaded page, a
second tab) gets the scrollback first.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import asyncssh

from .pool import ConnectionPool, Lease
from .recording import Recorder

log = logging.getLogger(__name__)

Message = list[Any]
#: Takes one message. Returns None when it is already on its way (a socket
#: that wrote it at once), else an awaitable that finishes when the watcher
#: can take more: the reader waits for it, which is the backpressure.
Watcher = Callable[[Message], Awaitable[None] | None]

READ_SIZE = 65536
EXIT_STATUS_WAIT = 5.0
#: A watcher that cannot take output for this long is detached, so one
#: stalled browser tab does not stall the shell for everybody else.
SEND_TIMEOUT = 10.0


class Scrollback:
    """The latest *limit* characters of a terminal's output."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[str] = deque()
        self._size = 0

    def append(self, text: str) -> None:
        self._chunks.append(text)
        self._size += len(text)
        while self._size > self.limit and self._chunks:
            excess = self._size - self.limit
            head = self._chunks[0]
            if len(head) <= excess:
                self._chunks.popleft()
                self._size -= len(head)
            else:
                self._chunks[0] = head[excess:]
                self._size -= excess

    def text(self) -> str:
        return "".join(self._chunks)


class TerminalSession:
    """One remote shell on a PTY, shared by any number of watchers."""

    #: Set before `start` to record the output (asciicast v2); the session
    #: behaves the same with or without one.
    recorder: Recorder | None = None

    def __init__(
        self,
        principal: str,
        instance: str,
        login_user: str,
        *,
        rows: int,
        cols: int,
        scrollback: int,
        on_end: Callable[[TerminalSession], None],
    ) -> None:
        self.id = uuid.uuid4().hex
        self.principal = principal
        self.instance = instance
        self.login_user = login_user
        self.rows, self.cols = rows, cols
        self.created = datetime.now(timezone.utc)
        self.scrollback = Scrollback(scrollback)
        self.end_reason: str | None = None
        self._watchers: set[Watcher] = set()
        self._on_end = on_end
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._process: asyncssh.SSHClientProcess[bytes] | None = None
        self._lease: Lease | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.end_reason is None

    def to_dict(self) -> dict[str, Any]:
        """Return the session as JSON-ready data."""
        return {
            "id": self.id,
            "instance": self.instance,
            "login_user": self.login_user,
            "created": self.created.isoformat().replace("+00:00", "Z"),
            "rows": self.rows,
            "cols": self.cols,
            "attached": len(self._watchers),
            "alive": self.alive,
        }

    async def start(
        self, pool: ConnectionPool, *, term: str, env: dict[str, str]
    ) -> None:
        """Open the shell channel on a pooled connection and start reading."""

        async def open_shell(conn: asyncssh.SSHClientConnection) -> Any:
            return await conn.create_process(
                term_type=term,
                term_size=(self.cols, self.rows),
                env=env,
                encoding=None,
                stderr=asyncssh.STDOUT,
            )

        self._process, self._lease = await pool.open_session(
            self.principal, self.instance, open_shell, username=self.login_user
        )
        self._lease.pooled.client.on_lost.append(self._connection_lost)
        self._reader = asyncio.create_task(self._read_loop())
        log.info(
            "Opened terminal %s on %s for %s", self.id, self.instance, self.principal
        )

    def attach(self, watcher: Watcher) -> list[Message]:
        """Add *watcher*; return the messages it must be sent first."""
        self._watchers.add(watcher)
        replay: list[Message] = [["setup", {"id": self.id, "instance": self.instance}]]
        history = self.scrollback.text()
        if history:
            replay.append(["stdout", history])
        return replay

    def detach(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def write(self, text: str) -> None:
        """Send keystrokes to the shell."""
        if self._process is not None and self.alive:
            self._process.stdin.write(text.encode("utf-8", "surrogateescape"))

    def resize(self, rows: int, cols: int) -> None:
        """Resize the remote PTY."""
        rows, cols = max(1, min(int(rows), 1000)), max(1, min(int(cols), 1000))
        self.rows, self.cols = rows, cols
        if self._process is not None and self.alive:
            self._process.change_terminal_size(cols, rows)
            if self.recorder is not None:
                self.recorder.resize(cols, rows)

    async def close(self, reason: str = "Terminal closed") -> None:
        """Hang up the remote shell and end the session."""
        if self._process is not None and self.alive:
            self._process.close()
        await self._end(reason)

    async def _read_loop(self) -> None:
        assert self._process is not None
        try:
            while True:
                data = await self._process.stdout.read(READ_SIZE)
                if not data:
                    break
                await self._publish(self._decoder.decode(data))
        except asyncssh.Error as exc:
            await self._end(f"Connection lost: {exc.reason}")
            return
        tail = self._decoder.decode(b"", final=True)
        if tail:
            await self._publish(tail)
        # The exit status may follow the end of output by a moment.
        with contextlib.suppress(TimeoutError, asyncssh.Error):
            await asyncio.wait_for(self._process.wait_closed(), EXIT_STATUS_WAIT)
        await self._end(self._exit_reason())

    def _exit_reason(self) -> str:
        assert self._process is not None
        lost = self._lease.pooled.client.lost_reason if self._lease else None
        if lost and lost != "closed":
            return f"Connection to {self.instance} lost: {lost}"
        if self._process.exit_signal:
            signal, _core, message, _lang = self._process.exit_signal
            return f"Remote shell killed by signal {signal}" + (
                f": {message}" if message else ""
            )
        status = self._process.exit_status
        if status is None:
            return f"Connection to {self.instance} closed"
        return f"Remote shell exited with status {status}"

    async def _publish(self, text: str) -> None:
        self.scrollback.append(text)
        if self.recorder is not None:
            self.recorder.output(text)
        await self._broadcast(["stdout", text])

    async def _broadcast(self, message: Message) -> None:
        # Every watcher gets the message first, then the slow ones are waited
        # for together. A socket that wrote it at once costs no task and no
        # turn of the event loop: keystroke echo stays one hop.
        waiting: dict[asyncio.Future[None], Watcher] = {}
        for watcher in list(self._watchers):
            try:
                pending = watcher(message)
            except Exception as exc:  # any failure detaches the watcher
                self._detach_failed(watcher, exc)
                continue
            if pending is not None:
                waiting[asyncio.ensure_future(pending)] = watcher
        if not waiting:
            return
        done, late = await asyncio.wait(waiting, timeout=SEND_TIMEOUT)
        for future in late:
            future.cancel()
            self._detach_failed(waiting[future], TimeoutError())
        for future in done:
            if not future.cancelled() and future.exception() is not None:
                self._detach_failed(waiting[future], future.exception())

    def _detach_failed(self, watcher: Watcher, error: BaseException | None) -> None:
        log.debug("Detaching a watcher of terminal %s: %r", self.id, error)
        self._watchers.discard(watcher)

    def _connection_lost(self, reason: str) -> None:
        if self.alive and reason != "closed":
            asyncio.get_running_loop().create_task(
                self._end(f"Connection to {self.instance} lost: {reason}")
            )

    async def _end(self, reason: str) -> None:
        if not self.alive:
            return
        self.end_reason = reason
        if self._lease is not None:
            self._lease.release()
        if self.recorder is not None:
            self.recorder.close()
        log.info("Terminal %s on %s ended: %s", self.id, self.instance, reason)
        self._on_end(self)
        await self._broadcast(["stdout", f"\r\n\x1b[2m[{reason}]\x1b[0m\r\n"])
        await self._broadcast(["disconnect", reason])
        self._watchers.clear()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
