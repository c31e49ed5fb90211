"""Terminal benchmarks: the gateway against direct ``ssh -tt`` and webssh.

Run as root from the repository root (it starts a private sshd on
127.0.0.1, a throwaway user, a ``jupyter server`` with the workbench and a
webssh server, and stops them all by PID when it ends)::

    python benchmarks/terminals.py            # full run, a few minutes
    python benchmarks/terminals.py --quick    # smaller sizes, under a minute

It writes ``benchmarks/results/terminals.md`` and ``terminals.png``.

What is measured, each tool in turn within every round (interleaved, so
that a busy machine slows all of them alike):

- **Throughput**: the remote shell prints ``--size-mib`` MiB of base64;
  the time from the command's Enter to the end marker, over the bytes of
  terminal output received. ``ssh -tt`` is OpenSSH's client on a pipe (the
  limit); ``gateway`` is the real path (sshd, asyncssh in the jupyter
  server, the terminal websocket, read here); ``webssh`` is webssh's
  server (paramiko) and websocket protocol.
- **Echo latency**: ``--keystrokes`` single keystrokes into ``cat`` on
  the PTY (the kernel echoes), each timed from send to its echo, p50 and
  p99.
- **Memory**: the jupyter server's RSS before and after opening
  ``--terminals`` idle terminals, per terminal; the scrollback they hold
  is read back through the websocket and subtracted. The same for webssh.
- **Connection setup**: time to a usable terminal (the first byte of the
  prompt), cold (new SSH connection and login) and on a pooled connection
  (the gateway's pool; OpenSSH's ControlMaster for ``ssh``).

The websocket client below is a small RFC 6455 client written for this
script, so that the same (cheap) client reads the gateway and webssh.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    API,
    Bench,
    LabServer,
    Panel,
    Table,
    bench_env,
    cpu_seconds,
    interleaved,
    median,
    percentile,
    rss_mib,
    stop_process,
    wait_for,
    workbench_server,
    write_report,
)
from sshd import free_port  # noqa: E402

TOOLS = ("ssh -tt", "gateway", "webssh")
TIMEOUT = 600.0
PROMPT = b"$ "


# --------------------------------------------------------------------------
# A minimal websocket client (RFC 6455), blocking, for one reader


class WebSocket:
    """A blocking websocket client: text frames out, whole messages in."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), 30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {parts.hostname}:{parts.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: http://{parts.hostname}:{parts.port}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = bytearray()
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("websocket handshake: connection closed")
            self.buffer += data
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")
        self.buffer = bytearray(rest)
        self.sock.settimeout(None)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = bytes([0x80 | opcode, 0x80 | length])
        elif length < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        # XOR with the repeated mask as one big integer: fast in CPython.
        repeated = (mask * (length // 4 + 1))[:length]
        masked = (
            int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
        ).to_bytes(length, "big")
        self.sock.sendall(header + mask + masked)

    def _fill(self, count: int, deadline: float | None) -> bool:
        while len(self.buffer) < count:
            if deadline is not None:
                left = deadline - time.perf_counter()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    return False
            data = self.sock.recv(1 << 18)
            if not data:
                raise ConnectionError("websocket closed by the server")
            self.buffer += data
        return True

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next message's payload; None on timeout; raise when closed."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        while True:
            if not self._fill(2, deadline):
                return None
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                start = 4
            elif length == 127:
                start = 10
            if not self._fill(start, deadline):
                return None
            if start > 2:
                length = int.from_bytes(self.buffer[2:start], "big")
            if not self._fill(start + length, deadline):
                return None
            payload = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the server")
            if opcode in (0x1, 0x2, 0x0):
                return payload
            if opcode == 0x9:
                # jupyter-server pings its websockets and closes the silent ones.
                self._send(0xA, payload)

    def close(self) -> None:
        with _suppress():
            mask = os.urandom(4)
            self.sock.sendall(bytes([0x88, 0x80]) + mask)
        self.sock.close()


@contextmanager
def _suppress() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass


# --------------------------------------------------------------------------
# One terminal session per tool, all with the same small interface


class Session:
    """A remote shell: ``send`` keystrokes, ``read`` output chunks (bytes)."""

    pending = b""

    def send(self, text: str) -> None:
        raise NotImplementedError

    def _read(self, timeout: float) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes | None:
        """Output bytes, or None after ``timeout`` seconds without any."""
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return self._read(timeout)

    def read_until(self, marker: bytes, timeout: float = TIMEOUT) -> int:
        """Read through ``marker``; return the bytes read (marker included).

        What came after the marker in the same chunk is kept for the next read.
        """
        deadline = time.perf_counter() + timeout
        total = 0
        window = b""
        while True:
            chunk = self.read(deadline - time.perf_counter())
            if chunk is None:
                raise TimeoutError(f"no {marker!r} after {timeout:.0f} s")
            data = window + chunk if window else chunk
            found = data.find(marker)
            if found >= 0:
                end = found + len(marker)
                self.pending = data[end:]
                return total + end - len(window)
            total += len(chunk)
            window = data[-(len(marker) - 1) :] if len(marker) > 1 else b""

    def read_count(self, count: int, timeout: float = 30.0) -> None:
        """Read ``count`` bytes of output."""
        deadline = time.perf_counter() + timeout
        while count > 0:
            chunk = self.read(deadline - time.perf_counter())
            if chunk is None:
                raise TimeoutError(f"{count} bytes of echo missing after {timeout} s")
            if len(chunk) > count:
                self.pending = chunk[count:]
            count -= len(chunk)

    def drain(self, quiet: float = 0.3) -> None:
        """Read until nothing arrives for ``quiet`` seconds."""
        while self.read(quiet) is not None:
            pass


class SshSession(Session):
    """OpenSSH's ``ssh -tt`` on pipes: the reference."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin.fileno()
        self.stdout = self.process.stdout.fileno()

    def send(self, text: str) -> None:
        os.write(self.stdin, text.encode())

    def _read(self, timeout: float) -> bytes | None:
        if timeout <= 0 or not select.select([self.stdout], [], [], timeout)[0]:
            return None
        data = os.read(self.stdout, 1 << 18)
        if not data:
            raise ConnectionError("ssh exited")
        return data

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        stop_process(self.process)  # type: ignore[arg-type]
        self.process.stdout.close()


class GatewaySession(Session):
    """A workbench terminal: REST to open it, the websocket to use it."""

    def __init__(self, lab: LabServer, instance: str = "h0", *, open_: bool = True):
        self.lab = lab
        self.id = ""
        self.ws: WebSocket | None = None
        self.pending: list[bytes] = []
        if open_:
            self.open(instance)

    def open(self, instance: str) -> None:
        status, body = self.lab.call(
            "POST", f"{API}terminals", {"instance": instance, "rows": 40, "cols": 120}
        )
        if status != 201:
            raise RuntimeError(f"POST terminals: {status} {body}")
        self.id = body["id"]
        self.attach()

    def attach(self) -> None:
        url = (
            self.lab.url.replace("http", "ws", 1) + f"{API}terminals/{self.id}/channel"
        )
        self.ws = WebSocket(url, {"Authorization": f"token {self.lab.token}"})

    def send(self, text: str) -> None:
        assert self.ws is not None
        self.ws.send_text(json.dumps(["stdin", text]))

    def _read(self, timeout: float) -> bytes | None:
        assert self.ws is not None
        if timeout <= 0:
            return None
        deadline = time.perf_counter() + timeout
        while True:
            payload = self.ws.recv(max(0.0, deadline - time.perf_counter()))
            if payload is None:
                return None
            message = json.loads(payload)
            if message[0] == "stdout":
                # Terminal output as the browser gets it; ASCII here.
                return str(message[1]).encode()
            if message[0] == "disconnect":
                raise ConnectionError(f"terminal ended: {message[1]}")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.id:
            self.lab.call("DELETE", f"{API}terminals/{self.id}")


class WebsshSession(Session):
    """webssh: a form POST makes the SSH session, its websocket carries it."""

    def __init__(self, url: str, bench: Bench) -> None:
        form = urllib.parse.urlencode(
            {
                "hostname": bench.server.host,
                "port": str(bench.server.port),
                "username": bench.user.name,
                "privatekey": bench.key.private_key,
                "term": "xterm-256color",
            }
        ).encode()
        request = urllib.request.Request(url, data=form, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if not answer.get("id"):
            raise RuntimeError(f"webssh refused the session: {answer}")
        ws_url = url.replace("http", "ws", 1) + f"ws?id={answer['id']}"
        self.ws = WebSocket(ws_url)
        self.send_resize(120, 40)

    def send_resize(self, cols: int, rows: int) -> None:
        self.ws.send_text(json.dumps({"resize": [cols, rows]}))

    def send(self, text: str) -> None:
        self.ws.send_text(json.dumps({"data": text}))

    def _read(self, timeout: float) -> bytes | None:
        if timeout <= 0:
            return None
        return self.ws.recv(timeout)

    def close(self) -> None:
        self.ws.close()


class Webssh:
    """A webssh server on 127.0.0.1, started and stopped by PID."""

    def __init__(self, bench: Bench) -> None:
        self.port = free_port()
        known = bench.work / "webssh_known_hosts"
        known.write_text("".join(server.known_hosts_line() for server in bench.servers))
        program = shutil.which("wssh")
        command = [program] if program else [sys.executable, "-m", "webssh.main"]
        self.log = (bench.work / "webssh.log").open("wb")
        self.process = subprocess.Popen(
            [
                *command,
                "--address=127.0.0.1",
                f"--port={self.port}",
                "--xsrf=False",
                "--policy=reject",
                f"--hostfile={known}",
                "--encoding=utf-8",
                "--maxconn=1000",
                "--delay=30",
                "--logging=warning",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        try:
            wait_for(self._answers, 60, "webssh to start")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("webssh exited; see its log")
        try:
            with urllib.request.urlopen(self.url, timeout=5):
                return True
        except OSError:
            return False

    def session(self, bench: Bench) -> WebsshSession:
        return WebsshSession(self.url, bench)

    def stop(self) -> None:
        stop_process(self.process)  # type: ignore[arg-type]
        self.log.close()


# --------------------------------------------------------------------------
# The measurements


class Tools:
    """Opens a ready session (prompt shown, ``cat`` or shell) for each tool."""

    def __init__(self, bench: Bench, lab: LabServer, webssh: Webssh) -> None:
        self.bench, self.lab, self.webssh = bench, lab, webssh
        #: ``ssh`` options that reuse a ControlMaster connection (setup part).
        self.control_args: list[str] = []

    def open(self, tool: str) -> Session:
        session: Session
        if tool == "ssh -tt":
            session = SshSession(self.bench.ssh_args("-tt"))
        elif tool == "gateway":
            session = GatewaySession(self.lab)
        else:
            session = self.webssh.session(self.bench)
        # A plain, known prompt, and the PTY the same size for every tool.
        session.send(
            "stty cols 120 rows 40; PS1='$ '; PROMPT_COMMAND=; "
            "bind 'set enable-bracketed-paste off'; echo RE''ADY\r"
        )
        session.read_until(b"READY\r\n", 60)
        session.read_until(b"$ ", 60)
        return session

    def server_pid(self, tool: str) -> int | None:
        if tool == "gateway":
            assert self.lab.process is not None
            return self.lab.process.pid
        if tool == "webssh":
            return self.webssh.process.pid
        return None


def throughput(tools: Tools, tool: str, size_mib: float) -> dict[str, float]:
    """Print ``size_mib`` MiB of base64 in the remote shell; MiB/s and CPU."""
    raw = int(size_mib * 2**20 * 3 / 4 * 76 / 77)  # base64 lines of 76 + newline
    session = tools.open(tool)
    pid = tools.server_pid(tool)
    try:
        cpu = cpu_seconds(pid) if pid else 0.0
        mine = cpu_seconds()
        began = time.perf_counter()
        session.send(f"head -c {raw} /dev/zero | base64; echo EN''D\r")
        received = session.read_until(b"END\r\n")
        took = time.perf_counter() - began
        server_cpu = cpu_seconds(pid) - cpu if pid else float("nan")
        client_cpu = cpu_seconds() - mine
    finally:
        session.close()
    mib = received / 2**20
    return {
        "MiB/s": mib / took,
        "MiB": mib,
        "server CPU s/MiB": server_cpu / mib,
        "client CPU s/MiB": client_cpu / mib,
    }


def echo_latency(tools: Tools, tool: str, keystrokes: int) -> list[float]:
    """Seconds from each keystroke to its echo, in ``cat`` on the PTY."""
    session = tools.open(tool)
    try:
        session.send("stty -echoctl; echo GO''NE; cat > /dev/null\r")
        session.read_until(b"GONE\r\n", 30)
        session.drain(0.2)
        letters = "abcdefghijklmnopqrstuvwxyz"
        times = []
        for index in range(keystrokes + 20):  # 20 to warm up, not counted
            key = "\r" if index % 60 == 59 else letters[index % 26]
            began = time.perf_counter()
            session.send(key)
            session.read_count(2 if key == "\r" else 1)
            if index >= 20:
                times.append(time.perf_counter() - began)
        session.send("\x04")
    finally:
        session.close()
    return times


def open_idle(tools: Tools, tool: str, count: int) -> tuple[float, list[Any]]:
    """Open ``count`` idle terminals; return the server's RSS growth (MiB)."""
    pid = tools.server_pid(tool)
    assert pid is not None
    held: list[Any] = []
    settle()
    before = rss_mib(pid)
    if tool == "gateway":
        for _ in range(count):
            status, body = tools.lab.call(
                "POST", f"{API}terminals", {"instance": "h0", "rows": 40, "cols": 120}
            )
            if status != 201:
                raise RuntimeError(f"POST terminals: {status} {body}")
            held.append(body["id"])
    else:
        for _ in range(count):
            held.append(tools.webssh.session(tools.bench))
    settle()
    return rss_mib(pid) - before, held


def settle(quiet: float = 2.0) -> None:
    """Give the servers a moment to finish the prompts (no output expected)."""
    time.sleep(quiet)


def scrollback_bytes(lab: LabServer, ids: list[str], sample: int = 10) -> float:
    """Average scrollback the gateway holds per terminal (read back on attach)."""
    sizes = []
    for terminal_id in ids[:sample]:
        session = GatewaySession(lab, open_=False)
        session.id = terminal_id
        session.attach()
        assert session.ws is not None
        size = 0
        while (payload := session.ws.recv(0.5)) is not None:
            message = json.loads(payload)
            if message[0] == "stdout":
                size += len(message[1])
        session.ws.close()
        sizes.append(size)
    return median(sizes)


def setup_time(tools: Tools, tool: str, pooled: bool) -> float:
    """Seconds to a usable terminal: until the first byte of output."""
    bench, lab = tools.bench, tools.lab
    if tool == "gateway":
        if not pooled:
            lab.call("DELETE", f"{API}instances/h0/login")
        began = time.perf_counter()
        if not pooled:
            body = {"username": bench.user.name, "private_key": bench.key.private_key}
            status, answer = lab.call("POST", f"{API}instances/h0/login", body)
            if status != 200:
                raise RuntimeError(f"login: {status} {answer}")
        session: Session = GatewaySession(lab)
        session.read(30)
        took = time.perf_counter() - began
    elif tool == "ssh -tt":
        extra = tools.control_args if pooled else []
        began = time.perf_counter()
        session = SshSession(bench.ssh_args("-tt", *extra))
        session.read(30)
        took = time.perf_counter() - began
    else:
        began = time.perf_counter()
        session = tools.webssh.session(bench)
        session.read(30)
        took = time.perf_counter() - began
    session.close()
    return took


@contextmanager
def control_master(bench: Bench) -> Iterator[list[str]]:
    """An OpenSSH ControlMaster: ssh's own connection reuse, for the pooled row."""
    path = bench.work / "cm.sock"
    args = ["-o", f"ControlPath={path}", "-o", "ControlMaster=no"]
    master = subprocess.Popen(
        bench.ssh_args("-N", "-o", "ControlMaster=yes", "-o", f"ControlPath={path}"),
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(path.exists, 30, "the ssh control socket")
        yield args
    finally:
        stop_process(master)  # type: ignore[arg-type]


# --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round")
    parser.add_argument("--size-mib", type=float, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--keystrokes", type=int, default=500)
    parser.add_argument("--terminals", type=int, default=None)
    parser.add_argument("--setup-rounds", type=int, default=None)
    parser.add_argument(
        "--only",
        default="throughput,echo,memory,setup",
        help="comma-separated parts to run",
    )
    parser.add_argument("--name", default="terminals", help="results file name")
    args = parser.parse_args()
    size = args.size_mib or (20.0 if args.quick else 200.0)
    rounds = args.rounds or (1 if args.quick else 3)
    terminals = args.terminals or (50 if args.quick else 200)
    setup_rounds = args.setup_rounds or (3 if args.quick else 10)
    parts = set(args.only.split(","))

    with bench_env(1) as bench:
        lab = workbench_server(bench)
        try:
            webssh = Webssh(bench)
            try:
                tools = Tools(bench, lab, webssh)
                report = run(
                    tools, parts, size, rounds, args.keystrokes, terminals, setup_rounds
                )
            finally:
                webssh.stop()
        finally:
            lab.stop()
    tables, panels, notes = report
    path = write_report(args.name, "Terminals", tables, panels=panels, notes=notes)
    print(path.read_text())


def say(text: str) -> None:
    """Progress on stderr, so that stdout carries only the report."""
    print(text, file=sys.stderr, flush=True)


def run(
    tools: Tools,
    parts: set[str],
    size: float,
    rounds: int,
    keystrokes: int,
    terminals: int,
    setup_rounds: int,
) -> tuple[list[Table], list[Panel], list[str]]:
    tables: list[Table] = []
    panels: list[Panel] = []
    notes: list[str] = []

    if "throughput" in parts:
        results: dict[str, list[dict[str, float]]] = {tool: [] for tool in TOOLS}
        for index, tool in interleaved(rounds, TOOLS):
            figures = throughput(tools, tool, size)
            say(f"throughput round {index} {tool}: {figures['MiB/s']:.1f} MiB/s")
            results[tool].append(figures)
        rates = {tool: median([r["MiB/s"] for r in results[tool]]) for tool in TOOLS}
        table = Table(
            f"Bulk output throughput ({size:g} MiB of base64, median of {rounds})",
            ["tool", "MiB/s", "× ssh -tt", "server CPU s/MiB", "client CPU s/MiB"],
        )
        for tool in TOOLS:
            table.rows.append(
                [
                    tool,
                    rates[tool],
                    rates[tool] / rates["ssh -tt"],
                    median([r["server CPU s/MiB"] for r in results[tool]]),
                    median([r["client CPU s/MiB"] for r in results[tool]]),
                ]
            )
        table.note = (
            "Target: gateway ≥ 0.95× ssh -tt. Server CPU is the jupyter server's "
            "(gateway) or webssh's process; client CPU is this script's reader."
        )
        tables.append(table)
        panels.append(Panel("Throughput", "MiB/s", TOOLS, [rates[t] for t in TOOLS]))

    if "echo" in parts:
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        for index, tool in interleaved(rounds, TOOLS):
            times = echo_latency(tools, tool, keystrokes)
            say(f"echo round {index} {tool}: p50 {median(times) * 1e3:.3f} ms")
            samples[tool].extend(times)
        table = Table(
            f"Keystroke echo latency ({keystrokes} keystrokes × {rounds} rounds)",
            ["tool", "p50 ms", "p99 ms", "p50 × ssh -tt"],
        )
        p50 = {tool: median(samples[tool]) * 1e3 for tool in TOOLS}
        for tool in TOOLS:
            table.rows.append(
                [
                    tool,
                    p50[tool],
                    percentile(samples[tool], 99) * 1e3,
                    p50[tool] / p50["ssh -tt"],
                ]
            )
        table.note = "Target: gateway p50 ≤ 0.45 ms, p99 ≤ 0.8 ms."
        tables.append(table)
        panels.append(
            Panel("Echo p50", "ms", TOOLS, [p50[t] for t in TOOLS], better="lower")
        )

    if "memory" in parts:
        table = Table(
            f"Server memory with {terminals} idle terminals open",
            [
                "server",
                "RSS growth MiB",
                "MiB per terminal",
                "scrollback KiB each",
                "MiB per terminal beyond scrollback",
            ],
        )
        grown, ids = open_idle(tools, "gateway", terminals)
        held = scrollback_bytes(tools.lab, ids) / 2**10  # ASCII: a byte a character
        say(f"memory gateway: {grown:.1f} MiB for {terminals}")
        per = grown / terminals
        table.rows.append(
            ["gateway (jupyter server)", grown, per, held, per - held / 2**10]
        )
        for terminal_id in ids:
            tools.lab.call("DELETE", f"{API}terminals/{terminal_id}")
        grown, sessions = open_idle(tools, "webssh", terminals)
        say(f"memory webssh: {grown:.1f} MiB for {terminals}")
        table.rows.append(
            ["webssh", grown, grown / terminals, "n/a (none kept)", grown / terminals]
        )
        for session in sessions:
            session.close()
        table.note = (
            "Target: ≤ 0.1 MiB per idle terminal beyond its scrollback. Each "
            "terminal holds its shell's first prompt as scrollback."
        )
        tables.append(table)
        panels.append(
            Panel(
                "Memory per idle terminal",
                "MiB",
                ["gateway", "webssh"],
                [table.rows[0][2], table.rows[1][2]],
                better="lower",
            )
        )

    if "setup" in parts:
        modes = [
            ("ssh -tt", False),
            ("ssh -tt", True),
            ("gateway", False),
            ("gateway", True),
            ("webssh", False),
        ]
        labels = {
            ("ssh -tt", False): "ssh -tt, new connection",
            ("ssh -tt", True): "ssh -tt, ControlMaster",
            ("gateway", False): "gateway, login + terminal",
            ("gateway", True): "gateway, pooled connection",
            ("webssh", False): "webssh, new connection",
        }
        found: dict[str, list[float]] = {labels[m]: [] for m in modes}
        with control_master(tools.bench) as control:
            tools.control_args = control
            for index, name in interleaved(setup_rounds, list(found)):
                mode = next(m for m in modes if labels[m] == name)
                took = setup_time(tools, *mode)
                say(f"setup round {index} {name}: {took * 1e3:.1f} ms")
                found[name].append(took)
        table = Table(
            f"Time to a usable terminal (first prompt byte, median of {setup_rounds})",
            ["path", "median ms", "p90 ms"],
        )
        for name, times in found.items():
            table.rows.append([name, median(times) * 1e3, percentile(times, 90) * 1e3])
        table.note = (
            "Target: a pooled connection gives a usable terminal in under 50 ms. "
            "Every path logs in with the same ed25519 key."
        )
        tables.append(table)
        panels.append(
            Panel(
                "Time to terminal",
                "ms",
                [n.replace(", ", "\n") for n in found],
                [median(t) * 1e3 for t in found.values()],
                better="lower",
            )
        )
    notes.append(
        "All servers and clients share this machine's cores; figures from a busy "
        "machine are noisy, so compare ratios within one run."
    )
    return tables, panels, notes


if __name__ == "__main__":
    main()
