"""Start real OpenSSH servers, local users, keys and agents for the test suite.

Everything here runs real programs (``/usr/sbin/sshd``, ``useradd``,
``chpasswd``, ``ssh-agent``) on 127.0.0.1 and remembers the process IDs
and user names it created, so that teardown removes exactly those and
nothing else. The machine must run the suite as root: ``sshd`` and the
user tools need it. ``dev/test`` installs the programs on a fresh Debian.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

SSHD = "/usr/sbin/sshd"
HOST = "127.0.0.1"
SETUP_HINT = "run dev/test, which installs openssh-server and runs the suite as root"

# Test users carry this prefix and comment, so a later run can tell its own
# leftovers (from a run that was killed) from real accounts.
USER_PREFIX = "wbt-"
USER_COMMENT = "jupyter-workbench test user, run "

START_TIMEOUT = 10.0

SSHD_CONFIG = """\
ListenAddress {host}
Port {port}
HostKey {host_key}
PidFile {pid_file}
LogLevel VERBOSE
UsePAM yes
PasswordAuthentication yes
KbdInteractiveAuthentication yes
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
PrintMotd no
AllowUsers {user_prefix}*
UseDNS no
AcceptEnv LANG LC_*
MaxStartups 64:30:128
Subsystem sftp internal-sftp
"""


class SetupError(RuntimeError):
    """A program the fixtures need is missing or failed to start."""


def require_root_tools() -> None:
    """Fail with a setup hint unless sshd and the user tools can run here.

    Raises
    ------
    SetupError
        When ``sshd`` is missing or the suite does not run as root.
    """
    if not os.access(SSHD, os.X_OK):
        raise SetupError(f"{SSHD} is not installed: {SETUP_HINT}")
    if os.geteuid() != 0:
        raise SetupError(f"the sshd fixtures need root: {SETUP_HINT}")
    for tool in (
        "useradd",
        "chpasswd",
        "userdel",
        "ssh-keygen",
        "ssh-agent",
        "ssh-add",
    ):
        if shutil.which(tool) is None:
            raise SetupError(f"{tool} is not installed: {SETUP_HINT}")


def free_port() -> int:
    """Return a loopback TCP port that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def hold_closed_port() -> socket.socket:
    """Return a socket bound to a loopback port that does not listen.

    While the socket stays open no other program can take the port, and a
    connection to it is refused, which makes a dependable "closed port".
    """
    sock = socket.socket()
    sock.bind((HOST, 0))
    return sock


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 5.0) -> None:
    """Terminate one process we started, by its PID, then reap it."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


@dataclass
class UserKey:
    """An SSH key pair, with its private half written to a file.

    Attributes
    ----------
    private_key : str
        The OpenSSH private key text (encrypted when ``passphrase`` is set).
    passphrase : str or None
        The passphrase that decrypts ``private_key``.
    path : Path
        A file holding ``private_key``, mode 0600.
    public_key : str
        The ``authorized_keys`` line.
    fingerprint : str
        The ``SHA256:...`` fingerprint of the public key.
    """

    private_key: str
    passphrase: str | None
    path: Path
    public_key: str
    fingerprint: str

    @staticmethod
    def new_passphrase() -> str:
        """Return a random passphrase."""
        return secrets.token_urlsafe(12)

    @classmethod
    def generate(
        cls, directory: Path, *, alg: str = "ed25519", passphrase: str | None = None
    ) -> UserKey:
        """Generate a key with ssh-keygen, as users make theirs.

        Parameters
        ----------
        directory : Path
            Where the private key file goes.
        alg : str
            ssh-keygen's ``-t`` value: ``ed25519``, ``ecdsa`` or ``rsa``.
        passphrase : str, optional
            Encrypts the private key (bcrypt KDF, OpenSSH format).
        """
        path = directory / f"id_{alg}_{secrets.token_hex(4)}"
        _run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                alg,
                "-N",
                passphrase or "",
                "-C",
                "jupyter-workbench test",
                "-f",
                str(path),
            ]
        )
        public = path.with_suffix(".pub").read_text().strip()
        fingerprint = asyncssh.import_public_key(public).get_fingerprint("sha256")
        return cls(path.read_text(), passphrase, path, public, fingerprint)


@dataclass
class LocalUser:
    """A real Linux account that the test sshd lets in.

    Attributes
    ----------
    name : str
        The login name, ``wbt-`` and a few random letters.
    password : str
        Its random password; lives only in memory.
    home : Path
        Its home directory.
    """

    name: str
    password: str
    home: Path

    @classmethod
    def create(cls) -> LocalUser:
        """Add a user with a home, ``/bin/bash`` and a random password."""
        name = USER_PREFIX + secrets.token_hex(3)
        password = secrets.token_urlsafe(18)
        comment = f"{USER_COMMENT}{os.getpid()}"
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "-c", comment, name])
        # chpasswd reads the secret from stdin so that it never shows in ps.
        _run(["chpasswd"], stdin=f"{name}:{password}\n")
        return cls(name, password, Path(pwd.getpwnam(name).pw_dir))

    def authorize(self, key: UserKey) -> None:
        """Append ``key`` to the user's ``~/.ssh/authorized_keys``.

        Ownership and modes matter: sshd's StrictModes ignores the file
        when it or ``~/.ssh`` is writable by anyone but the user.
        """
        entry = pwd.getpwnam(self.name)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        with keys.open("a") as out:
            out.write(key.public_key + "\n")
        keys.chmod(0o600)
        for path in (ssh_dir, keys):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def delete(self) -> None:
        """Stop the user's processes and remove the account and its home."""
        uid = pwd.getpwnam(self.name).pw_uid
        _kill_processes_of(uid)
        _run(["userdel", "--remove", self.name], check=False)


def remove_stale_users() -> list[str]:
    """Delete test users whose creating test run no longer exists.

    Returns
    -------
    list of str
        The names removed.
    """
    removed = []
    for entry in pwd.getpwall():
        match = re.fullmatch(re.escape(USER_COMMENT) + r"(\d+)", entry.pw_gecos)
        if not entry.pw_name.startswith(USER_PREFIX) or match is None:
            continue
        if _pid_alive(int(match.group(1))):
            continue
        LocalUser(entry.pw_name, "", Path(entry.pw_dir)).delete()
        removed.append(entry.pw_name)
    return removed


@dataclass
class SSHServer:
    """A real OpenSSH ``sshd`` in the foreground on 127.0.0.1.

    Attributes
    ----------
    directory : Path
        Holds the host key, ``sshd_config``, PID file and log.
    host : str
        Always ``"127.0.0.1"``.
    port : int
        The port it listens on; kept across :meth:`restart_with_new_host_key`.
    """

    directory: Path
    host: str = HOST
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _host_key: asyncssh.SSHKey | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        """The sshd log, written at LogLevel VERBOSE."""
        return self.directory / "sshd.log"

    @property
    def pid(self) -> int | None:
        """The PID of the running sshd, or None when stopped."""
        return self.process.pid if self.process else None

    @property
    def host_public_key(self) -> str:
        """The host key as an OpenSSH public key line."""
        assert self._host_key is not None, "the server has not started"
        return self._host_key.export_public_key("openssh").decode().strip()

    @property
    def host_key_fingerprint(self) -> str:
        """The host key's ``SHA256:...`` fingerprint, as OpenSSH shows it."""
        assert self._host_key is not None, "the server has not started"
        return str(self._host_key.get_fingerprint("sha256"))

    def known_hosts_line(self) -> str:
        """Return the ``known_hosts`` line for this server (``[host]:port``)."""
        return f"[{self.host}]:{self.port} {self.host_public_key}\n"

    def log_text(self) -> str:
        """Return everything sshd has logged so far."""
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def wait_for_log(self, pattern: str, *, timeout: float = 5.0) -> re.Match[str]:
        """Wait until a line matching the regular expression is logged.

        sshd writes a line after the client has already seen the result, so
        tests that assert log lines must wait for them.

        Raises
        ------
        AssertionError
            When no such line appears within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.log_text(), re.MULTILINE)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"sshd never logged {pattern!r}:\n{self.log_text()}"
                )
            time.sleep(0.05)

    async def await_log(self, pattern: str, *, timeout: float = 5.0) -> re.Match[str]:
        """Like :meth:`wait_for_log`, without blocking the event loop.

        Use it in async tests where the line depends on the client side,
        e.g. a disconnect that an in-process gateway has yet to send.
        """
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.log_text(), re.MULTILINE)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"sshd never logged {pattern!r}:\n{self.log_text()}"
                )
            await asyncio.sleep(0.05)

    def start(self) -> None:
        """Generate a host key if there is none and start sshd.

        A port chosen by :func:`free_port` can be taken by someone else
        before sshd binds it, so a failed bind is retried on another port
        unless the port is pinned by an earlier start.

        Raises
        ------
        SetupError
            When sshd exits or does not listen within the timeout.
        """
        require_root_tools()
        # sshd refuses to start without its privilege separation directory,
        # which Debian only creates when the system service starts.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        if self._host_key is None:
            self._new_host_key()

        pinned = self.port != 0
        for _attempt in range(1 if pinned else 5):
            self.port = self.port if pinned else free_port()
            if self._spawn():
                return
        raise SetupError(f"sshd did not start:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop sshd by its PID; connections it accepted end with it."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def restart_with_new_host_key(self) -> None:
        """Stop, replace the host key by a new one of the same type, restart.

        The port stays the same, so a client that trusted the old key sees
        a changed host key for the same ``[host]:port``.
        """
        self.stop()
        self._new_host_key()
        self.start()

    def _new_host_key(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._host_key.write_private_key(self.directory / "host_ed25519_key")
        (self.directory / "host_ed25519_key").chmod(0o600)

    def _write_config(self) -> Path:
        config = self.directory / "sshd_config"
        config.write_text(
            SSHD_CONFIG.format(
                host=self.host,
                port=self.port,
                host_key=self.directory / "host_ed25519_key",
                pid_file=self.directory / "sshd.pid",
                user_prefix=USER_PREFIX,
            )
        )
        return config

    def _spawn(self) -> bool:
        config = self._write_config()
        self.log_path.unlink(missing_ok=True)
        # -D keeps sshd in the foreground so the PID we hold is the listener;
        # -E sends its log to a file the tests can read.
        self.process = subprocess.Popen(
            [SSHD, "-D", "-f", str(config), "-E", str(self.log_path)],
            stdin=subprocess.DEVNULL,
        )
        listening = f"Server listening on {re.escape(self.host)} port {self.port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if re.search(listening, self.log_text()):
                return True
            if (
                self.process.poll() is not None
                or "Address already in use" in self.log_text()
            ):
                break
            time.sleep(0.05)
        self.stop()
        return False


@dataclass
class SSHAgent:
    """A real ``ssh-agent`` in the foreground, owned by the test run.

    Attributes
    ----------
    auth_sock : Path
        The agent's socket, the value for ``SSH_AUTH_SOCK``.
    key : UserKey
        The unencrypted key the agent holds.
    """

    auth_sock: Path
    key: UserKey
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the agent, wait for its socket and load ``key`` into it."""
        # -D: stay in the foreground, so stopping our PID stops the agent.
        self.process = subprocess.Popen(
            ["ssh-agent", "-D", "-a", str(self.auth_sock)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.auth_sock.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SetupError("ssh-agent did not create its socket")
            time.sleep(0.05)

        env = {**os.environ, "SSH_AUTH_SOCK": str(self.auth_sock)}
        _run(["ssh-add", "-q", str(self.key.path)], env=env)

    @property
    def pid(self) -> int | None:
        """The agent's PID, or None when stopped."""
        return self.process.pid if self.process else None

    def stop(self) -> None:
        """Stop the agent by its PID."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def _run(
    argv: list[str],
    *,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, input=stdin, env=env, capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise SetupError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _kill_processes_of(uid: int, *, timeout: float = 5.0) -> None:
    """Kill, by PID, every process that runs as the test user ``uid``.

    Shells left by terminal tests keep the account busy and userdel would
    refuse to remove it. The uid belongs to a user this module created, so
    these are processes the test run caused.
    """
    deadline = time.monotonic() + timeout
    while pids := _pids_of(uid):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _pids_of(uid: int) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                pids.append(int(proc.name))
        except FileNotFoundError:
            continue
    return pids
