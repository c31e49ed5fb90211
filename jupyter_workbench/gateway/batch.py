"""Commands across many hosts: one `BatchRun` per command, host by host.

A run goes to the instances a selection names (`targets.select`), at most
``concurrency`` at a time. Each host is independent: it has its own
connect timeout and command timeout, and a host that hangs, refuses, fails
its login or drops is reported with its own reason while the others go on.

Connections come from the principal's logins in the pool (``open_session``
respects the per-connection channel budget). For a host the principal has
not logged in to, the run logs in with the credentials given to it, exactly
as ``Gateway.login`` would, and the login stays in the pool afterwards, so a
second run (or a terminal) on those hosts reuses the connections; log out
to drop them. A host that needs a first-contact host-key confirmation or a
keyboard-interactive answer fails with that reason: confirm it once with a
normal login.

How a command runs on a host
----------------------------
The command goes to the login shell wrapped in a small POSIX ``sh`` script
that traps TERM, HUP and INT and passes them to its whole process group.
sshd starts every session in a new session (``setsid``), so the group is
everything the command started: a cancel or a timeout sends an SSH
``signal`` request (TERM) and then closes the channel, and nothing stays
behind on the host. Environment variables and the working directory are
set by the wrapper (sshd refuses most ``env`` requests). With ``sudo``,
``sudo -S -k`` is asked to print a unique prompt on stderr; the password is
written to stdin only when that prompt appears, so it never reaches the
command, and a second prompt (a wrong password) ends the host's run.

Output
------
stdout and stderr are read apart. Each host keeps the first and the last
``keep_bytes`` bytes of each stream (64 KiB by default) and counts what it
dropped in between, so a host printing gigabytes costs the same memory as
one printing 128 KiB. Live output goes to listeners as ordered events with
timestamps (see ``docs/api.md``); a listener that falls behind loses output
events, never state events.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import re
import shlex
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import asyncssh

from .connect import LoginChallenge
from .credentials import Credentials
from .errors import NotLoggedIn, SSHError, WorkbenchError
from .inventory import Instance
from .pool import ConnectionPool

log = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[Event], None]
AuditHook = Callable[[dict[str, Any]], None]

KEEP_BYTES = 64 * 1024
READ_SIZE = 65536
#: Time a host gets to exit after its TERM before the channel is closed.
TERM_GRACE = 4.0
#: Seconds the wrapper on the host waits after TERM before it sends KILL.
KILL_GRACE = 1
TERM_TRIES = 8
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: The POSIX sh wrapper described in the module docstring. ``$1`` is the
#: user's command, run by the login shell's ``$SHELL``. A job started with
#: ``&`` in a non-interactive shell reads /dev/null, so stdin is handed over
#: on fd 3 explicitly. On TERM the group gets TERM, then KILL after a grace
#: period: a child caught between fork and exec when TERM came still has
#: the shell's handler and loses the signal, so TERM alone is not enough.
WRAPPER = """\
trap 'trap "" TERM HUP INT; kill -TERM 0; sleep {grace}; kill -KILL 0' TERM HUP INT
{prelude}exec 3<&0
"${{SHELL:-/bin/sh}}" -c "$1" <&3 3<&- &
wait $!
"""

#: Host states; the last four are final.
PENDING, CONNECTING, RUNNING = "pending", "connecting", "running"
OK, FAILED, ERROR, CANCELLED, SKIPPED = "ok", "failed", "error", "cancelled", "skipped"
FINAL = (OK, FAILED, ERROR, CANCELLED, SKIPPED)


class OutputBuffer:
    """The head and tail of one output stream, and how much was dropped."""

    # Finished runs are kept (see `RunRegistry`): slots keep a host's
    # result small.
    __slots__ = ("head", "keep", "tail", "total")

    def __init__(self, keep: int = KEEP_BYTES) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def append(self, data: bytes) -> None:
        self.total += len(data)
        room = self.keep - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        if len(self.tail) > self.keep:
            del self.tail[: len(self.tail) - self.keep]

    @property
    def truncated(self) -> int:
        """Bytes dropped between the head and the tail."""
        return self.total - len(self.head) - len(self.tail)

    @property
    def kept(self) -> int:
        return len(self.head) + len(self.tail)

    def text(self) -> str:
        """Return the kept output as text, marking where bytes were dropped."""
        head = bytes(self.head).decode("utf-8", errors="replace")
        if not self.tail:
            return head
        tail = bytes(self.tail).decode("utf-8", errors="replace")
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode(
                "utf-8", errors="replace"
            )
        return f"{head}\n[… {self.truncated} bytes not kept …]\n{tail}"


@dataclass
class RunOptions:
    """How a run goes; every field has a default.

    Attributes
    ----------
    concurrency
        Hosts running at the same time.
    connect_timeout
        Seconds per host for connecting and logging in.
    command_timeout
        Seconds per host for the command, or None for no limit. A host over
        it gets TERM, its channel is closed, and it is reported ``timeout``.
    stdin
        Sent to every host's command, then end-of-file.
    env
        Environment variables for the command.
    cwd
        Working directory for the command.
    sudo, sudo_password
        Run the command with ``sudo -S``; the password answers sudo's
        prompt and is never logged or kept in results.
    error_budget
        Stop launching hosts after this many failures (an int), or after
        this share of the targets failed (``"10%"``). Hosts already running
        finish; the rest are ``skipped``.
    keep_bytes
        Bytes of head and of tail kept per stream per host.
    """

    concurrency: int = 50
    connect_timeout: float = 20.0
    command_timeout: float | None = None
    stdin: bytes | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    sudo: bool = False
    sudo_password: str | None = field(default=None, repr=False)
    error_budget: int | str | None = None
    keep_bytes: int = KEEP_BYTES

    def check(self) -> None:
        """Refuse options that cannot work, saying which and why.

        Raises
        ------
        WorkbenchError
            On a bad concurrency, timeout, variable name or error budget.
        """
        if self.concurrency < 1:
            raise WorkbenchError("'concurrency' must be at least 1")
        if self.connect_timeout <= 0 or (
            self.command_timeout is not None and self.command_timeout <= 0
        ):
            raise WorkbenchError("Timeouts must be positive numbers of seconds")
        for name in self.env:
            if not _ENV_NAME_RE.match(name):
                raise WorkbenchError(
                    f"Environment variable name {name!r} is not valid: use letters, "
                    "digits and _, not starting with a digit"
                )
        self.budget(1)
        if self.keep_bytes < 0:
            raise WorkbenchError("'keep_bytes' must not be negative")

    def budget(self, hosts: int) -> int | None:
        """Return how many failures stop the launching, for *hosts* targets."""
        if self.error_budget is None:
            return None
        if isinstance(self.error_budget, int) and not isinstance(
            self.error_budget, bool
        ):
            if self.error_budget < 0:
                raise WorkbenchError("'error_budget' must not be negative")
            return self.error_budget
        text = str(self.error_budget).strip()
        if text.endswith("%"):
            try:
                share = float(text[:-1])
            except ValueError:
                share = -1.0
            if 0 <= share <= 100:
                return int(hosts * share / 100)
        raise WorkbenchError(
            f"'error_budget' must be a count such as 3 or a share such as '10%', "
            f"not {self.error_budget!r}"
        )


def options_from_dict(data: Mapping[str, Any]) -> RunOptions:
    """Read run options from JSON-like data (a request body); check them.

    Raises
    ------
    WorkbenchError
        Naming the field that has the wrong type or value.
    """
    options = RunOptions()
    for name, kind in (
        ("concurrency", int),
        ("connect_timeout", float),
        ("command_timeout", float),
        ("keep_bytes", int),
    ):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WorkbenchError(f"'{name}' must be a number, not {value!r}")
        setattr(options, name, kind(value))
    for name in ("stdin", "cwd", "sudo_password"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise WorkbenchError(f"'{name}' must be a string")
    stdin = data.get("stdin")
    options.stdin = stdin.encode() if isinstance(stdin, str) else None
    env = data.get("env") or {}
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise WorkbenchError("'env' must map variable names to string values")
    options.env = dict(env)
    options.cwd = data.get("cwd") or None
    options.sudo_password = data.get("sudo_password")
    options.sudo = bool(data.get("sudo")) or options.sudo_password is not None
    budget = data.get("error_budget")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, str))
    ):
        raise WorkbenchError("'error_budget' must be a count or a share like '10%'")
    options.error_budget = budget
    options.check()
    return options


@dataclass(slots=True)
class HostResult:
    """What happened on one host."""

    name: str
    state: str = PENDING
    exit_status: int | None = None
    exit_signal: str | None = None
    error: dict[str, Any] | None = None
    started: datetime | None = None
    duration: float | None = None
    stdout: OutputBuffer = field(default_factory=OutputBuffer)
    stderr: OutputBuffer = field(default_factory=OutputBuffer)

    @property
    def done(self) -> bool:
        return self.state in FINAL

    def to_dict(self, *, output: bool = True) -> dict[str, Any]:
        """Return JSON-ready data; *output* adds the kept stdout and stderr."""
        data: dict[str, Any] = {
            "host": self.name,
            "state": self.state,
            "exit_status": self.exit_status,
            "exit_signal": self.exit_signal,
            "error": self.error,
            "started": _iso(self.started),
            "duration": self.duration,
            "stdout_bytes": self.stdout.total,
            "stderr_bytes": self.stderr.total,
            "stdout_truncated": self.stdout.truncated,
            "stderr_truncated": self.stderr.truncated,
        }
        if output:
            data["stdout"] = self.stdout.text()
            data["stderr"] = self.stderr.text()
        return data


class BatchRun:
    """One command on many hosts, started by `RunRegistry.start`.

    Read `hosts` for per-host results while it runs; `wait` for the end;
    `cancel` to stop it; `listen` for live events.
    """

    def __init__(
        self,
        principal: str,
        command: str,
        targets: Sequence[Instance],
        options: RunOptions,
        *,
        selection: str = "",
        credentials: Credentials | Mapping[str, Credentials] | None = None,
        parent: str | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.principal = principal
        self.command = command
        self.selection = selection
        self.options = options
        self.parent = parent
        self.created = datetime.now(timezone.utc)
        self.finished: datetime | None = None
        self.state = "running"
        self.hosts = {t.name: HostResult(t.name) for t in targets}
        for result in self.hosts.values():
            result.stdout.keep = result.stderr.keep = options.keep_bytes
        self._instances = {t.name: t for t in targets}
        self._credentials = credentials
        self._listeners: set[Listener] = set()
        self._processes: dict[str, asyncssh.SSHClientProcess[bytes]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._opening: set[str] = set()
        self._driver: asyncio.Task[None] | None = None
        self._cancelled = False
        self._stopped_by_budget = False

    # -- reading ------------------------------------------------------------

    @property
    def ok(self) -> list[str]:
        return [n for n, r in self.hosts.items() if r.state == OK]

    @property
    def failed(self) -> list[str]:
        return [n for n, r in self.hosts.items() if r.state in (FAILED, ERROR)]

    def summary(self) -> dict[str, int]:
        """Count hosts by state."""
        counts: dict[str, int] = {}
        for result in self.hosts.values():
            counts[result.state] = counts.get(result.state, 0) + 1
        return counts

    def to_dict(self, *, output: bool = True) -> dict[str, Any]:
        """Return the run and its hosts as JSON-ready data (never a secret)."""
        return {
            "id": self.id,
            "command": self.command,
            "targets": self.selection,
            "state": self.state,
            "created": _iso(self.created),
            "finished": _iso(self.finished),
            "parent": self.parent,
            "options": {
                "concurrency": self.options.concurrency,
                "connect_timeout": self.options.connect_timeout,
                "command_timeout": self.options.command_timeout,
                "cwd": self.options.cwd,
                "env": sorted(self.options.env),
                "sudo": self.options.sudo,
                "stdin": self.options.stdin is not None,
                "error_budget": self.options.error_budget,
            },
            "summary": self.summary(),
            "hosts": [r.to_dict(output=output) for r in self.hosts.values()],
        }

    def listen(self, listener: Listener) -> list[Event]:
        """Add a listener of live events; return the current state as events.

        The listener is called on the event loop and must not block.
        """
        self._listeners.add(listener)
        snapshot: list[Event] = [
            {"type": "run", "id": self.id, "state": self.state, "t": _now()}
        ]
        for result in self.hosts.values():
            snapshot.append(_host_event(result))
        return snapshot

    def unlisten(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    # -- running ------------------------------------------------------------

    def start(self, pool: ConnectionPool, on_end: Callable[[BatchRun], None]) -> None:
        """Start launching hosts on the running loop."""
        self._driver = asyncio.create_task(self._drive(pool, on_end))

    async def wait(self) -> BatchRun:
        """Wait until every host has finished; return the run."""
        if self._driver is not None:
            await asyncio.shield(self._driver)
        return self

    async def cancel(self) -> None:
        """Stop every remote command and launch nothing more.

        Running commands get TERM (passed to their whole process group on
        the host) and their channels are closed; hosts not started yet are
        ``skipped``.
        """
        if self._cancelled or self.state != "running":
            return
        self._cancelled = True
        log.info("Cancelling run %s of %s", self.id, self.principal)
        await asyncio.gather(
            *(self._stop(name, process) for name, process in self._processes.items()),
            return_exceptions=True,
        )
        for name, task in list(self._tasks.items()):
            # A host whose command is being started is left to see the
            # flag and stop it: cancelling it there would lose the channel
            # while the command already runs on the host.
            if name not in self._opening:
                task.cancel()
        await self.wait()

    async def _drive(
        self, pool: ConnectionPool, on_end: Callable[[BatchRun], None]
    ) -> None:
        slots = asyncio.Semaphore(self.options.concurrency)
        budget = self.options.budget(len(self.hosts))
        try:
            for name in self.hosts:
                await slots.acquire()
                if self._cancelled or self._over_budget(budget):
                    slots.release()
                    break
                task = asyncio.create_task(self._host(pool, name))
                task.add_done_callback(lambda _t: slots.release())
                self._tasks[name] = task
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        finally:
            # A finished run stays in the history: drop its done tasks (and
            # the frames and exceptions they hold), they are of no more use.
            self._tasks.clear()
            self._finish()
            on_end(self)

    def _over_budget(self, budget: int | None) -> bool:
        if budget is None or len(self.failed) <= budget:
            return False
        if not self._stopped_by_budget:
            self._stopped_by_budget = True
            log.info(
                "Run %s: %d failures exceed the error budget of %d; launching stops",
                self.id,
                len(self.failed),
                budget,
            )
        return True

    def _finish(self) -> None:
        reason = (
            "cancelled"
            if self._cancelled
            else "the error budget was exceeded"
            if self._stopped_by_budget
            else None
        )
        for result in self.hosts.values():
            if not result.done:
                state = CANCELLED if result.state != PENDING else SKIPPED
                result.state = state
                if reason and result.error is None:
                    result.error = {
                        "error": state,
                        "message": f"Not run: {reason}"
                        if state == SKIPPED
                        else "Cancelled while running",
                    }
                self._emit(_host_event(result))
        self.state = (
            "cancelled"
            if self._cancelled
            else "stopped"
            if self._stopped_by_budget
            else "done"
        )
        self.finished = datetime.now(timezone.utc)
        self._emit({"type": "run", "id": self.id, "state": self.state, "t": _now()})

    async def _host(self, pool: ConnectionPool, name: str) -> None:
        result = self.hosts[name]
        result.started = datetime.now(timezone.utc)
        began = time.monotonic()
        self._set_state(result, CONNECTING)
        try:
            await asyncio.wait_for(
                self._ensure_login(pool, name), self.options.connect_timeout
            )
            await self._execute(pool, name, result)
        except asyncio.CancelledError:
            result.state = CANCELLED
        except TimeoutError:
            result.error = {
                "error": "timeout",
                "message": f"No login to {name} within "
                f"{self.options.connect_timeout:g} s: the host may be hung or "
                "overloaded",
            }
            result.state = ERROR
        except WorkbenchError as exc:
            result.error = {"error": exc.code, "message": exc.message}
            result.state = ERROR
        except (OSError, asyncssh.Error) as exc:
            result.error = {
                "error": "ssh_error",
                "message": f"The session on {name} failed: {_reason(exc)}",
            }
            result.state = ERROR
        finally:
            result.duration = time.monotonic() - began
            self._processes.pop(name, None)
            self._emit(_host_event(result))
        if result.state == ERROR:
            log.info("Run %s: %s failed: %s", self.id, name, result.error)

    async def _ensure_login(self, pool: ConnectionPool, name: str) -> None:
        if pool.login_for(self.principal, name) is not None:
            return
        credentials = self._credentials
        if isinstance(credentials, Mapping):
            credentials = credentials.get(name)
        if credentials is None:
            raise NotLoggedIn(
                f"Not logged in to {name}, and the run was given no credentials: "
                "log in first or pass credentials to the run",
                instance=name,
            )
        outcome = await pool.login(self.principal, self._instances[name], credentials)
        if isinstance(outcome, LoginChallenge):
            raise NotLoggedIn(
                f"{name} asks keyboard-interactive questions: log in to it once "
                "interactively, then run again",
                instance=name,
            )

    async def _execute(
        self, pool: ConnectionPool, name: str, result: HostResult
    ) -> None:
        prompt = _sudo_prompt(self.id) if self.options.sudo else None
        command = remote_command(self.command, self.options, sudo_prompt=prompt)

        async def opener(conn: asyncssh.SSHClientConnection) -> Any:
            return await conn.create_process(command, encoding=None)

        self._opening.add(name)
        try:
            process, lease = await pool.open_session(self.principal, name, opener)
        finally:
            self._opening.discard(name)
        self._processes[name] = process
        self._set_state(result, RUNNING)
        try:
            if self._cancelled:
                # The command may already run on the host: stop it there too.
                await self._stop(name, process)
                result.state = CANCELLED
                return
            await self._converse(name, process, result)
        finally:
            process.close()
            lease.release()

    async def _converse(
        self, name: str, process: asyncssh.SSHClientProcess[bytes], result: HostResult
    ) -> None:
        sudo = None
        if self.options.sudo:
            sudo = _SudoAnswer(
                self.options.sudo_password,
                process,
                _sudo_prompt(self.id),
                self._send_stdin,
            )
        else:
            self._send_stdin(process)
        readers = [
            self._read(name, "stdout", process.stdout, result.stdout, sudo, False),
            self._read(name, "stderr", process.stderr, result.stderr, sudo, True),
        ]
        try:
            await asyncio.wait_for(
                asyncio.gather(*readers, process.wait_closed()),
                self.options.command_timeout,
            )
        except TimeoutError:
            await self._stop(name, process)
            result.state = FAILED
            result.error = {
                "error": "timeout",
                "message": f"The command ran longer than "
                f"{self.options.command_timeout:g} s and was stopped",
            }
            return

        if sudo is not None and (sudo.refused or (sudo.answered and not sudo.ran)):
            result.state = FAILED
            result.error = {
                "error": "sudo_refused",
                "message": f"sudo on {name} did not accept the password",
            }
            return
        result.exit_status = process.exit_status
        signal = process.exit_signal
        result.exit_signal = signal[0] if signal else None
        if result.exit_status is None and signal is None:
            raise SSHError(f"The connection to {name} closed before the command ended")
        result.state = OK if result.exit_status == 0 else FAILED
        if self._cancelled and result.state == FAILED:
            result.state = CANCELLED  # it ended because of the cancel

    def _send_stdin(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        if self.options.stdin:
            process.stdin.write(self.options.stdin)
        process.stdin.write_eof()

    async def _read(
        self,
        name: str,
        stream: str,
        reader: asyncssh.SSHReader[bytes],
        buffer: OutputBuffer,
        sudo: _SudoAnswer | None,
        prompts: bool,
    ) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        eof = False
        while not eof:
            data = await reader.read(READ_SIZE)
            eof = not data
            if sudo is not None:
                if prompts:
                    data = sudo.take(data) if data else sudo.flush()
                elif data:
                    sudo.output()
            if not data:
                continue
            buffer.append(data)
            if self._listeners:
                text = decoder.decode(data)
                if text:
                    self._emit(
                        {
                            "type": "output",
                            "host": name,
                            "stream": stream,
                            "data": text,
                            "t": _now(),
                        }
                    )

    async def _stop(self, name: str, process: asyncssh.SSHClientProcess[bytes]) -> None:
        # TERM first, so the wrapper can pass it to the process group; a
        # closed channel alone leaves a non-PTY command running on the host.
        # TERM is repeated: one that arrives while sshd's session child is
        # still starting the shell can be lost before the wrapper traps it.
        for _attempt in range(TERM_TRIES):
            with contextlib.suppress(OSError, asyncssh.Error):
                process.send_signal("TERM")
            try:
                await asyncio.wait_for(process.wait_closed(), TERM_GRACE / TERM_TRIES)
                break
            except TimeoutError:
                continue
        else:
            log.info(
                "Run %s: %s did not exit after TERM; closing its channel", self.id, name
            )
        process.close()

    def _set_state(self, result: HostResult, state: str) -> None:
        result.state = state
        self._emit(_host_event(result))

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the run
                log.exception("Run %s: a listener failed; removing it", self.id)
                self._listeners.discard(listener)


class _SudoAnswer:
    """Watches stderr for sudo's prompt: answers the first, fails on a second.

    The prompt is unique to the run, so it is told apart from the
    command's own output and removed from it. Until sudo asks, stdin is
    held back; if the command speaks first (sudo needed no password), the
    stdin goes out then, and never the password.
    """

    def __init__(
        self,
        password: str | None,
        process: asyncssh.SSHClientProcess[bytes],
        prompt: bytes,
        send_stdin: Callable[[asyncssh.SSHClientProcess[bytes]], None],
    ) -> None:
        self._password = password
        self._process = process
        self._prompt = prompt
        self._send_stdin = send_stdin
        self._ran = ran_marker(prompt)
        self._carry = b""
        self.ran = False
        self.answered = False
        self.started = False
        self.refused = False

    def output(self) -> None:
        """The command printed on stdout: it runs, so stdin can go."""
        if not self.answered and not self.started:
            self.started = True
            self._send_stdin(self._process)

    def take(self, data: bytes) -> bytes:
        """Return stderr *data* without sudo's prompts, answering them."""
        buffer = self._carry + data
        self._carry = b""
        kept = b""
        while True:
            found = [(buffer.find(m), m) for m in (self._prompt, self._ran)]
            found = [(at, m) for at, m in found if at >= 0]
            if not found:
                break
            at, marker = min(found)
            kept += buffer[:at]
            buffer = buffer[at + len(marker) :]
            if marker == self._ran:
                self.ran = True
            else:
                self._on_prompt()
        # Hold back an end that may be the start of a marker.
        for size in range(min(len(buffer), len(self._prompt) - 1), 0, -1):
            if self._prompt.startswith(buffer[-size:]) or self._ran.startswith(
                buffer[-size:]
            ):
                self._carry, buffer = buffer[-size:], buffer[:-size]
                break
        kept += buffer
        if kept and not self.answered:
            self.output()
        return kept

    def flush(self) -> bytes:
        carry, self._carry = self._carry, b""
        return carry

    def _on_prompt(self) -> None:
        if self.answered or self.started:
            # A second prompt: the password was wrong. stdin is at its end
            # already, so sudo gives up and the command never runs.
            self.refused = True
            return
        self.answered = True
        self._process.stdin.write((self._password or "").encode() + b"\n")
        self._send_stdin(self._process)


def remote_command(
    command: str, options: RunOptions, *, sudo_prompt: bytes | None = None
) -> str:
    """Return the command line sent to the host: the wrapper around *command*."""
    prelude = ""
    if sudo_prompt is not None and options.sudo:
        # Tells a refused password (sudo exits 1, often silently, when
        # stdin ends) apart from a command that exits 1 itself.
        prelude += f"printf %s {shlex.quote(ran_marker(sudo_prompt).decode())} >&2\n"
    if options.cwd:
        prelude += f"cd -- {shlex.quote(options.cwd)} || exit 1\n"
    for name, value in options.env.items():
        prelude += f"export {name}={shlex.quote(value)}\n"
    script = WRAPPER.format(prelude=prelude, grace=KILL_GRACE)
    inner = f"/bin/sh -c {shlex.quote(script)} wb-run {shlex.quote(command)}"
    if not options.sudo or sudo_prompt is None:
        return f"exec {inner}"
    # -k: ignore cached credentials so that a prompt always comes and the
    # password never lands in the command's stdin; sudo keeps $SHELL of
    # the login user out, so the wrapper falls back to /bin/sh.
    return f"exec sudo -S -k -p {shlex.quote(sudo_prompt.decode())} -- {inner}"


def _sudo_prompt(run_id: str) -> bytes:
    return f"[wb-sudo-{run_id[:12]}]".encode()


def ran_marker(prompt: bytes) -> bytes:
    """Return what the wrapper prints on stderr once sudo has let it run."""
    return prompt[:-1] + b":ran]"


class RunRegistry:
    """The runs of every principal: start, find, cancel, rerun, compare.

    Parameters
    ----------
    pool
        Where connections come from.
    keep
        Finished runs kept per principal (the oldest are forgotten).
    audit
        Called with a record of each run when it starts and when it ends
        (principal, command, targets, per-host exit status; never stdin,
        environment values or passwords).
    """

    def __init__(
        self, pool: ConnectionPool, *, keep: int = 50, audit: AuditHook | None = None
    ) -> None:
        self._pool = pool
        self._keep = keep
        self._audit = audit
        self._runs: dict[str, BatchRun] = {}

    def start(
        self,
        principal: str,
        command: str,
        targets: Sequence[Instance],
        options: RunOptions | None = None,
        *,
        selection: str = "",
        credentials: Credentials | Mapping[str, Credentials] | None = None,
        parent: str | None = None,
    ) -> BatchRun:
        """Start *command* on *targets*; return the run at once.

        Raises
        ------
        WorkbenchError
            When the command is empty or an option is invalid.
        """
        options = options or RunOptions()
        options.check()
        if not command.strip():
            raise WorkbenchError("The command is empty: give a command to run")
        run = BatchRun(
            principal,
            command,
            targets,
            options,
            selection=selection,
            credentials=credentials,
            parent=parent,
        )
        self._runs[run.id] = run
        self._forget_old(principal)
        log.info(
            "Run %s by %s on %d hosts: %s", run.id, principal, len(targets), command
        )
        self._record("run.start", run)
        run.start(self._pool, self._ended)
        return run

    def get(self, principal: str, run_id: str) -> BatchRun:
        """Return one of the principal's runs.

        Raises
        ------
        RunNotFound
            When no such run belongs to the principal.
        """
        run = self._runs.get(run_id)
        if run is None or run.principal != principal:
            raise RunNotFound(f"No run {run_id}: it never existed or was forgotten")
        return run

    def runs(self, principal: str) -> list[BatchRun]:
        """Return the principal's runs, oldest first."""
        return [r for r in self._runs.values() if r.principal == principal]

    def rerun_failed(self, principal: str, run_id: str) -> BatchRun:
        """Run the same command again on the hosts that failed in *run_id*.

        Raises
        ------
        WorkbenchError
            When no host failed.
        """
        previous = self.get(principal, run_id)
        failed = previous.failed
        if not failed:
            raise WorkbenchError(f"No host failed in run {run_id}: nothing to rerun")
        return self.start(
            principal,
            previous.command,
            [previous._instances[n] for n in failed],
            previous.options,
            selection=",".join(failed),
            credentials=previous._credentials,
            parent=previous.id,
        )

    async def close(self) -> None:
        """Cancel every running run."""
        await asyncio.gather(
            *(r.cancel() for r in list(self._runs.values())), return_exceptions=True
        )

    def _ended(self, run: BatchRun) -> None:
        log.info("Run %s ended %s: %s", run.id, run.state, run.summary())
        self._record("run.end", run)

    def _record(self, action: str, run: BatchRun) -> None:
        if self._audit is None:
            return
        record: dict[str, Any] = {
            "action": action,
            "principal": run.principal,
            "run": run.id,
            "command": run.command,
            "targets": run.selection,
            "hosts": list(run.hosts),
            "sudo": run.options.sudo,
        }
        if action == "run.end":
            record["state"] = run.state
            record["results"] = {
                n: {"state": r.state, "exit_status": r.exit_status}
                for n, r in run.hosts.items()
            }
        try:
            self._audit(record)
        except Exception:
            log.exception("The audit hook failed for run %s", run.id)

    def _forget_old(self, principal: str) -> None:
        done = [r for r in self.runs(principal) if r.state != "running"]
        for run in done[: max(0, len(done) - self._keep)]:
            del self._runs[run.id]


class RunNotFound(WorkbenchError):
    """No run with that id belongs to the principal."""

    code = "not_found"


def compare(before: BatchRun, after: BatchRun) -> dict[str, dict[str, Any]]:
    """Return the hosts whose exit status or output differs between two runs.

    Hosts in only one of the runs are reported as ``added`` or ``removed``.
    Output is compared on the kept bytes and the total byte counts.
    """
    changed: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys([*before.hosts, *after.hosts]):
        old, new = before.hosts.get(name), after.hosts.get(name)
        if old is None or new is None:
            changed[name] = {"change": "added" if old is None else "removed"}
            continue
        what = []
        if (old.state, old.exit_status, old.exit_signal) != (
            new.state,
            new.exit_status,
            new.exit_signal,
        ):
            what.append("exit_status")
        for stream in ("stdout", "stderr"):
            a, b = getattr(old, stream), getattr(new, stream)
            if (a.head, a.tail, a.total) != (b.head, b.tail, b.total):
                what.append(stream)
        if what:
            changed[name] = {
                "change": "changed",
                "what": what,
                "before": {"state": old.state, "exit_status": old.exit_status},
                "after": {"state": new.state, "exit_status": new.exit_status},
            }
    return changed


def _host_event(result: HostResult) -> Event:
    event = result.to_dict(output=False)
    event.update(type="host", t=_now())
    return event


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _now() -> float:
    return time.time()


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", "") or exc) or type(exc).__name__


__all__ = [
    "BatchRun",
    "HostResult",
    "OutputBuffer",
    "RunNotFound",
    "RunOptions",
    "RunRegistry",
    "compare",
    "options_from_dict",
    "remote_command",
]
