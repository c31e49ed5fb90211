"""A fleet of real OpenSSH servers on loopback, started in parallel.

Used by the batch-run tests and by ``benchmarks/fleet.py``. Every sshd is
an `SSHServer` from ``sshd.py``; `Fleet.stop` stops each by its PID.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sshd import HOST, SSHServer


@dataclass
class Fleet:
    """Running sshd servers plus a hanging listener that never answers."""

    servers: list[SSHServer]
    hang: socket.socket = field(repr=False)

    @property
    def hang_port(self) -> int:
        return int(self.hang.getsockname()[1])

    def stop(self) -> None:
        """Stop every sshd by its PID and close the hanging listener."""
        with ThreadPoolExecutor(max_workers=16) as workers:
            list(workers.map(SSHServer.stop, self.servers))
        self.hang.close()


def start_fleet(directory: Path, count: int) -> Fleet:
    """Start *count* sshd processes on loopback, several at a time.

    Each start generates a host key and waits for sshd to listen, which
    is mostly waiting, so threads overlap the starts.
    """
    servers = [SSHServer(directory / f"sshd-{n:03d}") for n in range(count)]
    workers = min(16, (os.cpu_count() or 2) * 4)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(SSHServer.start, servers))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return Fleet(servers, hanging_listener())


def hanging_listener() -> socket.socket:
    """Return a listening socket that never accepts: TCP connects, SSH hangs.

    The kernel completes the TCP handshake into the backlog, so a client
    sees an open port whose SSH banner never comes.
    """
    sock = socket.socket()
    sock.bind((HOST, 0))
    sock.listen(64)
    return sock


def pids_with(uid: int, needle: str) -> list[int]:
    """Return the PIDs of *uid*'s processes whose command line holds *needle*."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if needle.encode() in cmdline:
            found.append(int(proc.name))
    return found
