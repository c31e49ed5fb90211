"""Run a built-in SSH instance on loopback so the workbench works on first launch.

The demo instance is an asyncssh server bound to a loopback address only. It
accepts one random password for the user running it, serves a login shell on
a real pseudo-terminal (or on pipes when the client asks for no terminal),
runs exec requests, and offers SFTP rooted at the user's home directory.

Its host key is generated in memory at start and never written to disk, so a
client trusts it by passing :attr:`DemoInstance.host_key` (or
:attr:`DemoInstance.known_hosts_line`) as its only known host key.

Example
-------
>>> demo = await DemoInstance.start()                          # doctest: +SKIP
>>> conn = await asyncssh.connect(                             # doctest: +SKIP
...     demo.host, demo.port, username=demo.username, password=demo.password,
...     known_hosts=([demo.host_key], [], []))
>>> demo.close(); await demo.wait_closed()                     # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import getpass
import hmac
import ipaddress
import logging
import os
import posixpath
import pty
import secrets
import shutil
import signal
import struct
import termios
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NamedTuple

import asyncssh

log = logging.getLogger(__name__)

#: Shell and exec sessions served at once; each one is a local process.
MAX_SESSIONS = 16

#: Seconds a hung-up session gets to exit before it is killed.
HANGUP_GRACE = 2.0

#: Seconds to keep forwarding output after the shell has exited. Background
#: jobs can hold the terminal open forever; this bounds the wait for them.
EXIT_DRAIN = 1.0

#: Seconds a client has to log in, as OpenSSH's LoginGraceTime.
LOGIN_TIMEOUT = 30.0

_CHUNK = 65536

_ProcessT = asyncssh.SSHServerProcess[bytes]


class _Child(NamedTuple):
    """A spawned session process and how to talk to it."""

    proc: asyncio.subprocess.Process
    outputs: list[Coroutine[Any, Any, None]]
    write_input: Callable[[bytes], Awaitable[None]]
    close_input: Callable[[], None]


class DemoInstance:
    """A loopback SSH server with a PTY shell, exec and SFTP for one user.

    Create it with :meth:`start`; stop it with :meth:`close` and
    :meth:`wait_closed`, or use it as an async context manager.

    Attributes
    ----------
    host, port : str, int
        The loopback address and TCP port the server listens on.
    username : str
        The login name, the OS user running the server (sessions run as it).
    password : str
        The random password, held in memory only. It never appears in logs
        or in ``repr()``.
    host_key : asyncssh.SSHKey
        The public half of the in-memory Ed25519 host key.
    host_key_fingerprint : str
        The host key's ``SHA256:...`` fingerprint, as OpenSSH shows it.
    """

    def __init__(self, *, shell: str | None = None, max_sessions: int) -> None:
        self.host = ""
        self.port = 0
        self.username = getpass.getuser()
        self.password = secrets.token_urlsafe(24)
        self._home = os.path.expanduser("~")
        self._shell = shell or _default_shell()
        self._max_sessions = max_sessions
        self._private_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = self._private_key.convert_to_public()
        self.host_key_fingerprint = self.host_key.get_fingerprint("sha256")
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._sessions: set[asyncio.Task[Any]] = set()

    @classmethod
    async def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        shell: str | None = None,
        max_sessions: int = MAX_SESSIONS,
    ) -> DemoInstance:
        """Start a demo instance listening on a loopback address.

        Parameters
        ----------
        host : str
            A literal loopback address (``127.0.0.1``, any ``127.x``, or ``::1``).
            Names are not accepted, so nothing can resolve them elsewhere.
        port : int
            The TCP port; 0 picks a free one, read it back from :attr:`port`.
        shell : str, optional
            The shell to run; by default ``$SHELL``, else ``/bin/bash``, else
            ``/bin/sh``.
        max_sessions : int
            Shell and exec sessions served at once; further ones get an error
            message and exit status 1.

        Raises
        ------
        ValueError
            If `host` is not a literal loopback address: the demo's shells run
            as the server's own user and must never be reachable from the
            network.
        OSError
            If the port cannot be bound.
        """
        _check_loopback(host)
        instance = cls(shell=shell, max_sessions=max_sessions)
        await instance._listen(host, port)
        return instance

    @property
    def known_hosts_line(self) -> str:
        """Return the host key as a known_hosts line for this host and port."""
        key = self.host_key.export_public_key("openssh").decode().strip()
        return f"[{self.host}]:{self.port} {key}"

    def close(self) -> None:
        """Stop listening and close every connection; sessions are hung up."""
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(self._connections):
            conn.close()
        log.info("Closing demo instance on %s:%s", self.host, self.port)

    async def wait_closed(self) -> None:
        """Wait until the listener is closed and every session process is gone."""
        if self._acceptor is not None:
            await self._acceptor.wait_closed()
        while self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)

    async def __aenter__(self) -> DemoInstance:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def __repr__(self) -> str:
        return f"<DemoInstance {self.username}@{self.host}:{self.port}>"

    async def _listen(self, host: str, port: int) -> None:
        self._acceptor = await asyncssh.listen(
            host,
            port,
            server_factory=lambda: _DemoServer(self),
            server_host_keys=[self._private_key],
            process_factory=self._run_session,
            sftp_factory=lambda chan: _HomeSFTPServer(chan, os.fsencode(self._home)),
            encoding=None,
            line_editor=False,
            # Password only: the demo has no user keys, and asyncssh would
            # otherwise offer keyboard-interactive backed by the password.
            password_auth=True,
            public_key_auth=False,
            kbdint_auth=False,
            host_based_auth=False,
            gss_host=None,
            agent_forwarding=False,
            x11_forwarding=False,
            config=None,
            login_timeout=LOGIN_TIMEOUT,
        )
        self.host = host
        self.port = self._acceptor.get_port()
        log.info(
            "Demo instance listening on %s:%s for %s", host, self.port, self.username
        )

    def _check_password(self, username: str, password: str) -> bool:
        # Compare bytes: compare_digest refuses non-ASCII str, and a client
        # can send any UTF-8.
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok

    async def _run_session(self, process: _ProcessT) -> None:
        task = asyncio.current_task()
        assert task is not None
        if process.subsystem:
            # Only sftp is served, and asyncssh handles it before this point.
            _refuse(process, f"subsystem {process.subsystem!r} is not available")
            return
        if len(self._sessions) >= self._max_sessions:
            log.warning("Refused demo session: %d sessions open", len(self._sessions))
            _refuse(process, f"too many sessions (at most {self._max_sessions})")
            return

        self._sessions.add(task)
        try:
            await _ShellSession(process, self._shell, self._home).run()
        finally:
            self._sessions.discard(task)


class _DemoServer(asyncssh.SSHServer):
    """Password authentication and connection tracking for one connection."""

    def __init__(self, instance: DemoInstance) -> None:
        self._instance = instance
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._instance._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._instance._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if self._instance._check_password(username, password):
            log.info("Demo login accepted for %s (password)", username)
            return True
        log.warning("Demo login refused for %s (password)", username)
        return False


class _HomeSFTPServer(asyncssh.SFTPServer):
    """An SFTP server whose relative paths start at the home directory."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], home: bytes) -> None:
        super().__init__(chan)
        self._home = home

    def map_path(self, path: bytes) -> bytes:
        # OpenSSH starts SFTP in the home directory; asyncssh would use the
        # Jupyter server's working directory. Absolute paths pass unchanged.
        return posixpath.join(self._home, path)


class _ShellSession:
    """One shell or exec request, on a pseudo-terminal or on pipes."""

    def __init__(self, process: _ProcessT, shell: str, home: str) -> None:
        self._process = process
        self._shell = shell
        self._home = home
        self._master = -1

    async def run(self) -> None:
        """Run the child until it exits or the client goes, then clean up."""
        try:
            child = await self._spawn()
        except OSError as exc:
            log.warning("Demo session could not start %s: %s", self._shell, exc)
            _refuse(self._process, f"cannot start {self._shell}: {exc.strerror}", 127)
            return
        proc = child.proc
        log.info(
            "Demo session started: pid %s, %s, %s",
            proc.pid,
            "exec" if self._process.command is not None else "shell",
            "pty" if self._master >= 0 else "pipes",
        )
        copiers = [asyncio.ensure_future(self._copy_in(child))]
        copiers += [asyncio.ensure_future(output) for output in child.outputs]
        exited = asyncio.ensure_future(proc.wait())
        gone = asyncio.ensure_future(self._process.channel.wait_closed())
        try:
            await asyncio.wait({exited, gone}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done() and not gone.done():
                # Output written just before exit may still be buffered.
                await asyncio.wait(copiers[1:], timeout=EXIT_DRAIN)
            if exited.done() and not gone.done():
                self._report_exit(proc.pid, exited.result())
        finally:
            for future in (*copiers, exited, gone):
                future.cancel()
            await _hang_up(proc, self._master)
            self._master = -1

    async def _spawn(self) -> _Child:
        command = self._process.command
        if command is None:
            argv = [self._shell, "-l"]
        else:
            argv = [self._shell, "-c", command]
        env = self._environment()
        if self._process.term_type is None:
            return await self._spawn_pipes(argv, env)
        return await self._spawn_pty(argv, env)

    async def _spawn_pipes(self, argv: list[str], env: dict[str, str]) -> _Child:
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=pipe,
            stdout=pipe,
            stderr=pipe,
            env=env,
            cwd=self._home,
            start_new_session=True,
        )
        stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
        assert stdin is not None and stdout is not None and stderr is not None

        async def write_input(data: bytes) -> None:
            stdin.write(data)
            await stdin.drain()

        outputs = [
            _copy_out(lambda: stdout.read(_CHUNK), self._process.stdout),
            _copy_out(lambda: stderr.read(_CHUNK), self._process.stderr),
        ]
        return _Child(proc, outputs, write_input, stdin.close)

    async def _spawn_pty(self, argv: list[str], env: dict[str, str]) -> _Child:
        master, slave = pty.openpty()
        self._master = master
        try:
            self._resize(*self._process.term_size)
            # The shell needs the terminal as its controlling tty for job
            # control and ^C. util-linux's `setsid -c` does setsid() and
            # TIOCSCTTY and then execs, so the shell keeps its PID and no
            # Python runs between fork and exec (preexec_fn is thread-unsafe).
            setsid = shutil.which("setsid")
            if setsid:
                argv = [setsid, "-c", *argv]
            else:
                log.warning("No setsid(1): the demo shell runs without job control")
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=self._home,
                start_new_session=not setsid,
            )
        except BaseException:
            os.close(master)
            self._master = -1
            raise
        finally:
            # Only the child may hold the slave, or reading the master never
            # reports the end of the session.
            os.close(slave)
        os.set_blocking(master, False)
        outputs = [_copy_out(lambda: _read_fd(master), self._process.stdout)]
        # Like OpenSSH, a PTY session ignores the client's EOF: the terminal's
        # own EOF character (^D) is how a user ends the shell.
        return _Child(proc, outputs, lambda data: _write_fd(master, data), _no_op)

    def _environment(self) -> dict[str, str]:
        # A fresh environment, as sshd builds, so the Jupyter server's own
        # secrets (tokens in os.environ) do not leak into the shell.
        user = getpass.getuser()
        env = {
            "HOME": self._home,
            "USER": user,
            "LOGNAME": user,
            "SHELL": self._shell,
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
        }
        for name, value in self._process.env.items():
            # What OpenSSH's default AcceptEnv lets through.
            if isinstance(name, str) and (name == "LANG" or name.startswith("LC_")):
                env[name] = str(value)
        if self._process.term_type:
            env["TERM"] = self._process.term_type
        return env

    async def _copy_in(self, child: _Child) -> None:
        while True:
            try:
                data = await self._process.stdin.read(_CHUNK)
            except asyncssh.TerminalSizeChanged as change:
                self._resize(
                    change.width, change.height, change.pixwidth, change.pixheight
                )
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            except (asyncssh.Error, OSError):
                return
            if not data:
                child.close_input()
                return
            try:
                await child.write_input(data)
            except OSError:
                return

    def _resize(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self._master < 0 or not (width and height):
            return
        size = struct.pack("HHHH", height, width, pixwidth, pixheight)
        # The kernel sends SIGWINCH to the terminal's foreground job.
        fcntl.ioctl(self._master, termios.TIOCSWINSZ, size)
        log.debug("Demo terminal resized to %dx%d", width, height)

    def _report_exit(self, pid: int, status: int) -> None:
        log.info("Demo session ended: pid %s, status %s", pid, status)
        if status >= 0:
            self._process.exit(status)
            return
        name = signal.Signals(-status).name.removeprefix("SIG")
        self._process.exit_with_signal(name)


async def _copy_out(
    read: Callable[[], Awaitable[bytes]], writer: asyncssh.SSHWriter[bytes]
) -> None:
    """Forward child output to the channel, waiting while the client is slow."""
    with contextlib.suppress(asyncssh.Error, OSError):
        while data := await read():
            writer.write(data)
            await writer.drain()


async def _read_fd(fd: int) -> bytes:
    """Read from a non-blocking descriptor; return b"" at the terminal's end."""
    while True:
        try:
            return os.read(fd, _CHUNK)
        except BlockingIOError:
            await _fd_ready(fd, writable=False)
        except OSError as exc:
            # Linux reports EIO on the master once no process holds the slave.
            if exc.errno == errno.EIO:
                return b""
            raise


async def _write_fd(fd: int, data: bytes) -> None:
    """Write all of `data` to a non-blocking descriptor."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            # The shell is not reading and the terminal's input queue is full.
            await _fd_ready(fd, writable=True)


async def _fd_ready(fd: int, *, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writable:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _hang_up(proc: asyncio.subprocess.Process, master: int) -> None:
    """End a session as a dropped terminal would: SIGHUP, then SIGKILL.

    After a normal exit only the terminal is closed, so background jobs the
    user left behind live on as they would under OpenSSH.
    """
    running = proc.returncode is None
    if running:
        # bash passes SIGHUP on to its jobs, but under load some survived
        # in testing: signal every process of the session (its ID is the
        # shell's PID, since the shell is the session leader) directly.
        members = await asyncio.to_thread(_session_members, proc.pid)
        _signal_all({proc.pid, *members}, signal.SIGHUP)
    if master >= 0:
        # Closing the master also hangs up the terminal's foreground job.
        os.close(master)
    if not running:
        return
    try:
        await asyncio.wait_for(proc.wait(), HANGUP_GRACE)
    except asyncio.TimeoutError:
        log.warning("Demo session pid %s ignored SIGHUP; killing it", proc.pid)
        _signal_all({proc.pid}, signal.SIGKILL)
        await proc.wait()


def _session_members(sid: int) -> list[int]:
    """Return the PIDs in session `sid`, from Linux's /proc (none elsewhere)."""
    members = []
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                    stat = stat_file.read()
            except OSError:
                continue  # exited meanwhile
            # Fields follow the command name, which may hold ")" itself:
            # state, ppid, pgrp, session, ...
            fields = stat.rpartition(b")")[2].split()
            if len(fields) > 3 and int(fields[3]) == sid:
                members.append(int(entry.name))
    return members


def _signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _no_op() -> None:
    pass


def _refuse(process: _ProcessT, reason: str, status: int = 1) -> None:
    process.stderr.write(f"demo instance: {reason}\r\n".encode())
    process.exit(status)


def _check_loopback(host: str) -> None:
    """Raise ValueError unless `host` is a literal loopback address."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"The demo instance listens on a loopback address only, not {host!r}: "
            "its password is shown to the user. Use host='127.0.0.1'."
        )


def _default_shell() -> str:
    for shell in (os.environ.get("SHELL"), "/bin/bash", "/bin/sh"):
        if shell and os.path.isabs(shell) and os.access(shell, os.X_OK):
            return shell
    return "/bin/sh"
