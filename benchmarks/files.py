"""File transfer throughput and memory: the gateway's HTTP path against OpenSSH.

Run as root from the repository (it starts a private sshd on 127.0.0.1,
a real ``jupyter server`` with the workbench, and a throwaway user, as the
test suite does)::

    python benchmarks/files.py            # 64 and 512 MiB, 3 rounds
    python benchmarks/files.py --quick    # 16 and 64 MiB, 1 round

and read ``benchmarks/results/files.md`` and ``files.png``.

Every tool moves the same random file to the same user's home on the same
loopback sshd and back, checked by SHA-256 after each transfer (untimed):

``scp -O``
    OpenSSH's legacy scp protocol: one stream, no per-request round trips.
    The limit of what SSH moves on this machine.
``scp``
    OpenSSH's scp with its default protocol (SFTP since OpenSSH 9.0).
``sftp``
    OpenSSH ``sftp`` (``put`` and ``get``), its default cipher and
    pipelining (64 requests of 32 KiB): the target of issue 9.
``sftp aes-gcm``
    The same with ``-c aes128-gcm@openssh.com``, the cipher the gateway
    prefers, so that cipher and protocol costs can be told apart.
``http``
    The gateway's HTTP path: ``curl`` uploads with ``PUT files/upload``
    (the body streamed, with the SHA-256 the server checks) and downloads
    with ``GET files/download`` from a real ``jupyter server``; the server
    speaks SFTP to sshd through the gateway. This is what a browser or a
    kernel on another machine goes through.
``gateway``
    The gateway's Python API in this process (``RemoteFiles.upload`` and
    ``read``), without HTTP: shows what the HTTP layer costs.

The OpenSSH tools log in by key; the gateway by password (the login is
not timed). Tools take turns within each round, the order rotating, so
that load from elsewhere on the machine falls on all of them alike; the
ratios to ``sftp`` are taken within each round, then the median over the
rounds is reported.

Memory: for OpenSSH tools the peak RSS of the client's process tree
(scp or sftp and its ``ssh``), sampled every 20 ms; for
``http`` the jupyter server's RSS growth above what it held before the
transfer, sampled every 20 ms; for ``gateway`` this process's growth.
The same figure at two file sizes shows whether memory grows with the
file. Client CPU is the transferring process's user + system time
(OpenSSH client; the jupyter server; this process), per GiB moved.

Not run in CI: timings do not belong in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Bench,
    LabServer,
    Panel,
    Table,
    bench_env,
    cpu_seconds,
    interleaved,
    median,
    rss_mib,
    workbench_server,
    write_report,
)

TOOLS = ["scp -O", "scp", "sftp", "sftp aes-gcm", "http", "gateway"]
REFERENCE = "sftp"
DIRECTIONS = ("up", "down")


@dataclass
class Sample:
    """One transfer: seconds, peak memory (MiB) and client CPU seconds."""

    seconds: float
    memory: float
    cpu: float


def tree_rss_mib(pid: int) -> float:
    """RSS of *pid* and all its descendants, in MiB (0 once it is gone)."""
    try:
        total = rss_mib(pid)
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            children = [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return 0.0
    return total + sum(tree_rss_mib(child) for child in children)


class Sampler:
    """Peak RSS of a process tree, or of this process, sampled every 20 ms.

    ``growth`` is the peak above the RSS at the start (for a long-lived
    server); ``peak`` the highest sum seen (for a client started for it).
    """

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid
        self.start = self._now()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _now(self) -> float:
        return rss_mib() if self.pid is None else tree_rss_mib(self.pid)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._now())

    @property
    def growth(self) -> float:
        return self.peak - self.start

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._now())


def make_file(path: Path, size: int) -> str:
    """Write *size* random bytes to *path*; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        left = size
        while left:
            piece = os.urandom(min(left, 1 << 20))
            handle.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while data := handle.read(1 << 20):
            digest.update(data)
    return digest.hexdigest()


def run_child(command: list[str], stdin: bytes | None = None) -> Sample:
    """Run a client; return its time, its process tree's peak RSS, its CPU.

    CPU comes from ``wait4`` (the child and the children it waited for:
    scp's and sftp's ``ssh``). Memory is sampled, because ``ru_maxrss``
    would count the Python process the child was forked from.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sampler = Sampler(process.pid)
    sampler.start = 0.0
    with sampler:
        if stdin is not None:
            assert process.stdin is not None
            process.stdin.write(stdin)
            process.stdin.close()
        assert process.stderr is not None
        error = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{command[0]} failed ({process.returncode}): {error}")
    return Sample(seconds, sampler.peak, usage.ru_utime + usage.ru_stime)


class OpenSSH:
    """scp and sftp command lines for the bench's user, key and server."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        server = bench.server
        known = bench.work / "known_hosts"
        known.write_text(server.known_hosts_line())
        self.options = [
            "-F",
            "/dev/null",
            "-i",
            str(bench.key.path),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-P",
            str(server.port),
        ]
        self.login = f"{bench.user.name}@{server.host}"

    def scp(self, legacy: bool, source: str, target: str) -> Sample:
        flags = ["-O"] if legacy else []
        return run_child(["scp", "-q", *flags, *self.options, source, target])

    def sftp(self, cipher: str | None, batch: str) -> Sample:
        flags = ["-c", cipher] if cipher else []
        command = ["sftp", "-q", *flags, *self.options, "-b", "-", self.login]
        return run_child(command, batch.encode())

    def transfer(
        self, tool: str, direction: str, local: Path, remote: str, back: Path
    ) -> Sample:
        if tool.startswith("scp"):
            legacy = tool == "scp -O"
            if direction == "up":
                return self.scp(legacy, str(local), f"{self.login}:{remote}")
            return self.scp(legacy, f"{self.login}:{remote}", str(back))
        cipher = "aes128-gcm@openssh.com" if tool == "sftp aes-gcm" else None
        batch = (
            f"put {local} {remote}\n" if direction == "up" else f"get {remote} {back}\n"
        )
        return self.sftp(cipher, batch)


class HTTPPath:
    """curl against the jupyter server's files routes."""

    def __init__(self, lab: LabServer) -> None:
        self.lab = lab
        assert lab.process is not None
        self.pid = lab.process.pid
        self.base = f"{lab.url}workbench/api/v1/instances/h0/files/"

    def transfer(
        self, direction: str, local: Path, remote: str, back: Path, sha256: str
    ) -> Sample:
        query = urllib.parse.urlencode({"path": remote})
        command = [
            "curl",
            "-sS",
            "--fail-with-body",
            "-H",
            f"Authorization: token {self.lab.token}",
            "-H",
            "Expect:",  # no 100-continue pause before the body
        ]
        if direction == "up":
            url = f"{self.base}upload?{query}&sha256={sha256}"
            command += ["-T", str(local), "-o", os.devnull, url]
        else:
            command += ["-o", str(back), f"{self.base}download?{query}"]
        cpu = cpu_seconds(self.pid)
        with Sampler(self.pid) as memory:
            sample = run_child(command)
        return Sample(sample.seconds, memory.growth, cpu_seconds(self.pid) - cpu)


class InProcess:
    """The gateway's Python API, on its own event loop in this process."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.loop = asyncio.new_event_loop()
        self.gateway = self.loop.run_until_complete(self._login())

    async def _login(self) -> object:
        import asyncssh

        from jupyter_workbench.gateway.credentials import Credentials
        from jupyter_workbench.gateway.gateway import Gateway, GatewayConfig
        from jupyter_workbench.gateway.inventory import Instance, Inventory

        server, user = self.bench.server, self.bench.user
        instance = Instance(name="h0", host=server.host, port=server.port)
        config = GatewayConfig(data_dir=self.bench.work / "gateway-data")
        gateway = Gateway(Inventory([instance]), config)
        gateway.known_hosts("bench").add(
            server.host, server.port, asyncssh.import_public_key(server.host_public_key)
        )
        await gateway.login(
            "bench", "h0", Credentials(user.name, password=user.password)
        )
        return gateway

    def transfer(
        self, direction: str, local: Path, remote: str, back: Path, sha256: str
    ) -> Sample:
        files = self.gateway.files("bench", "h0", write=True)  # type: ignore[attr-defined]
        target = remote.encode()

        async def up() -> None:
            upload = await files.upload(target)
            try:
                with local.open("rb") as handle:
                    while data := handle.read(1 << 20):
                        await upload.write(data)
                await upload.commit(sha256=sha256)
            finally:
                await upload.close()

        async def down() -> None:
            with back.open("wb") as handle:
                async for data in files.read(target):
                    handle.write(data)

        cpu = cpu_seconds()
        with Sampler() as memory:
            started = time.perf_counter()
            self.loop.run_until_complete(up() if direction == "up" else down())
            seconds = time.perf_counter() - started
        return Sample(seconds, memory.growth, cpu_seconds() - cpu)

    def close(self) -> None:
        self.loop.run_until_complete(self.gateway.close())  # type: ignore[attr-defined]
        self.loop.close()


@contextmanager
def contenders(bench: Bench, tools: list[str]) -> Iterator[Callable[..., Sample]]:
    """Yield ``transfer(tool, direction, local, remote, back, sha256)``."""
    openssh = OpenSSH(bench)
    lab = workbench_server(bench) if "http" in tools else None
    local_api = InProcess(bench) if "gateway" in tools else None
    try:

        def transfer(
            tool: str, direction: str, local: Path, remote: str, back: Path, sha: str
        ) -> Sample:
            if tool == "http":
                assert lab is not None
                return HTTPPath(lab).transfer(direction, local, remote, back, sha)
            if tool == "gateway":
                assert local_api is not None
                return local_api.transfer(direction, local, remote, back, sha)
            return openssh.transfer(tool, direction, local, remote, back)

        yield transfer
    finally:
        if local_api is not None:
            local_api.close()
        if lab is not None:
            lab.stop()


def measure(
    args: argparse.Namespace, bench: Bench
) -> dict[tuple[int, str, str], list[Sample]]:
    """Run every (size, round, tool, direction); return the samples."""
    samples: dict[tuple[int, str, str], list[Sample]] = defaultdict(list)
    remote = f"{bench.user.home}/bench.bin"
    local, back = bench.work / "payload", bench.work / "back"
    with contenders(bench, args.tools) as transfer:
        for size in args.sizes:
            expected = make_file(local, size << 20)
            for round_, tool in interleaved(args.rounds, args.tools):
                for direction in DIRECTIONS:
                    back.unlink(missing_ok=True)
                    load = os.getloadavg()[0]
                    sample = transfer(tool, direction, local, remote, back, expected)
                    checked = Path(remote) if direction == "up" else back
                    if sha256_file(checked) != expected:
                        raise SystemExit(
                            f"{tool} {direction}: {checked} arrived damaged"
                        )
                    samples[(size, tool, direction)].append(sample)
                    if args.verbose:
                        print(
                            f"{size:>5} MiB  round {round_ + 1}  {tool:<13} {direction:<4} "
                            f"{size / sample.seconds:7.1f} MiB/s  "
                            f"mem {sample.memory:6.1f} MiB  load {load:.1f}",
                            flush=True,
                        )
    return samples


def report(
    args: argparse.Namespace, samples: dict[tuple[int, str, str], list[Sample]]
) -> None:
    tables, panels = [], []
    rate = {
        key: [size / s.seconds for s in values]
        for key, values in samples.items()
        for size in [key[0]]
    }

    def ratio(size: int, tool: str, direction: str) -> float:
        ours, ref = (
            rate.get((size, tool, direction)),
            rate.get((size, REFERENCE, direction)),
        )
        if not ours or not ref:
            return float("nan")
        return median([a / b for a, b in zip(ours, ref, strict=True)])

    throughput = Table(
        "Throughput",
        [
            "MiB",
            "tool",
            "up MiB/s",
            "up / sftp",
            "down MiB/s",
            "down / sftp",
            "client CPU s/GiB up",
            "client CPU s/GiB down",
        ],
        note=(
            "Median over the rounds; ratios are taken to sftp within each round, "
            "then the median. Client CPU: the OpenSSH client process, the jupyter "
            "server (http) or this process (gateway)."
        ),
    )
    memory = Table(
        "Peak memory of the transferring process",
        [
            "tool",
            *[f"{size} MiB up" for size in args.sizes],
            *[f"{size} MiB down" for size in args.sizes],
        ],
        note=(
            "MiB. OpenSSH: the peak RSS of the client and its ssh. http: the jupyter server's RSS "
            "growth above its RSS before the transfer. gateway: this process's "
            "growth. Flat in file size when the columns of one direction match. "
            "The gateway's figure is growth, not its whole RSS: its first uploads "
            "grow the allocator's arenas by up to the 8 MiB write window plus "
            "buffers, later ones reuse them, so the small size (run first) can "
            "show more than the large one."
        ),
    )
    for size in args.sizes:
        for tool in args.tools:
            row: list[object] = [size, tool]
            cpu = []
            for direction in DIRECTIONS:
                values = samples.get((size, tool, direction), [])
                row += [
                    median(rate.get((size, tool, direction), [])),
                    ratio(size, tool, direction),
                ]
                cpu.append(
                    median([s.cpu for s in values]) * 1024 / size
                    if values
                    else float("nan")
                )
            throughput.rows.append(
                [row[0], row[1], row[2], row[3], row[4], row[5], *cpu]
            )
    for tool in args.tools:
        cells: list[object] = [tool]
        for direction in DIRECTIONS:
            for size in args.sizes:
                values = samples.get((size, tool, direction), [])
                cells.append(max((s.memory for s in values), default=float("nan")))
        memory.rows.append(cells)
    tables += [throughput, memory]

    largest = max(args.sizes)
    targets = Table(
        "Target (issue 9): the HTTP path at least 1.0x sftp both ways",
        ["MiB", "direction", "http / sftp", "met"],
    )
    for size in args.sizes:
        for direction in DIRECTIONS:
            value = ratio(size, "http", direction)
            targets.rows.append(
                [size, direction, value, "yes" if value >= 1.0 else "no"]
            )
    tables.append(targets)
    for direction in DIRECTIONS:
        panels.append(
            Panel(
                f"{'Upload' if direction == 'up' else 'Download'}, {largest} MiB",
                "MiB/s",
                args.tools,
                [
                    median(rate.get((largest, tool, direction), []))
                    for tool in args.tools
                ],
            )
        )
    panels.append(
        Panel(
            f"Memory, {largest} MiB up",
            "MiB",
            args.tools,
            [
                max(
                    (s.memory for s in samples.get((largest, t, "up"), [])),
                    default=float("nan"),
                )
                for t in args.tools
            ],
            better="lower",
        )
    )
    loads = [f"{value:.1f}" for value in os.getloadavg()]
    notes = [
        f"{args.rounds} round(s) per size; load average at the end {' '.join(loads)} "
        "(other work on the machine shares its 2 cores: compare the ratios, "
        "which are taken within each round, rather than the absolute figures).",
        "Everything runs on one machine: sshd, sftp-server, the client and, for "
        "http, the jupyter server and curl share the same cores, so a tool that "
        "spends more CPU per byte also slows the server side down.",
        "Uploads through the gateway are checked by SHA-256 end to end (the "
        "client's hash against the gateway's, computed while streaming) and by "
        "size on the instance; OpenSSH checks nothing beyond the SSH MAC.",
        "Profile of the jupyter server (py-spy) during these transfers: most "
        "time goes to asyncssh's per-packet work (sshd sends and takes 32 KiB "
        "SSH packets: AES-GCM via OpenSSL, packet framing, one socket write "
        "each), the loopback socket calls, and SHA-256 (the upload check; the "
        "audit record's hash of a download). The gateway keeps 16 reads of "
        "the server's largest block (255 KiB) or 8 MiB of writes in flight "
        "across HTTP pieces, and tornado reads upload bodies 1 MiB at a time.",
    ]
    path = write_report(
        "files",
        "Files: transfer throughput against OpenSSH",
        tables,
        panels=panels,
        notes=notes,
    )
    print(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[64, 512], metavar="MIB"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools", nargs="+", default=TOOLS, choices=TOOLS)
    parser.add_argument("--quick", action="store_true", help="16 and 64 MiB, one round")
    parser.add_argument("--verbose", action="store_true", help="print every transfer")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.rounds = [16, 64], 1
    if REFERENCE not in args.tools:
        args.tools.append(REFERENCE)
    needed = {"sftp", "curl" if "http" in args.tools else "sftp"}
    needed |= {"scp"} if any(t.startswith("scp") for t in args.tools) else set()
    missing = sorted(tool for tool in needed if shutil.which(tool) is None)
    if missing:
        raise SystemExit(
            f"benchmarks/files.py needs {', '.join(missing)}: "
            "apt-get install openssh-client curl"
        )
    with bench_env() as bench:
        samples = measure(args, bench)
    report(args, samples)


if __name__ == "__main__":
    main()
