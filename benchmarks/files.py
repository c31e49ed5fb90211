"""Upload and download throughput and peak memory: the gateway against OpenSSH sftp.

Run as root from the repository (it starts a private sshd on 127.0.0.1
and makes a throwaway user, as the test suite does)::

    python benchmarks/files.py --size-mib 512 --rounds 3

Both tools move the same file over the same loopback sshd, with the same
user and key. Each figure is the best of ``--rounds``; the ratio is the
gateway's throughput over sftp's (above 1 means the gateway is faster).
Peak memory is the high-water RSS of the process that moved the bytes:
this script's own growth for the gateway (measured per size, so that a
memory that grows with the file shows), and the ``sftp`` child's maximum
RSS for OpenSSH. Not run in CI: timings do not belong in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sshd import LocalUser, SSHServer, UserKey, require_root_tools  # noqa: E402

from jupyter_workbench.gateway.credentials import Credentials  # noqa: E402
from jupyter_workbench.gateway.gateway import Gateway, GatewayConfig  # noqa: E402
from jupyter_workbench.gateway.inventory import Instance, Inventory  # noqa: E402

PRINCIPAL = "bench"


def rss_mib() -> float:
    """This process's current resident set, from /proc."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Samples this process's RSS while a transfer runs; keeps the peak."""

    def __init__(self) -> None:
        self.start = rss_mib()
        self.peak = self.start
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PeakRSS:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss_mib())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib())
            await asyncio.sleep(0.02)


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            handle.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


async def gateway_round(
    gateway: Gateway, local: Path, remote: bytes, back: Path
) -> tuple[float, float, float]:
    """Return (upload s, download s, peak RSS growth MiB) through the gateway."""
    files = gateway.files(PRINCIPAL, "bench", write=True)
    async with PeakRSS() as memory:
        started = time.perf_counter()
        upload = await files.upload(remote)
        with local.open("rb") as handle:
            while data := handle.read(1 << 20):
                await upload.write(data)
        await upload.commit()
        await upload.close()
        up = time.perf_counter() - started

        started = time.perf_counter()
        with back.open("wb") as handle:
            async for data in files.read(remote):
                handle.write(data)
        down = time.perf_counter() - started
    return up, down, memory.peak - memory.start


def sftp_round(
    server: SSHServer,
    user: LocalUser,
    key: UserKey,
    local: Path,
    remote: str,
    back: Path,
) -> tuple[float, float, float]:
    """Return (upload s, download s, sftp's max RSS MiB) with OpenSSH sftp."""
    command = [
        "sftp",
        "-q",
        "-i",
        str(key.path),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-P",
        str(server.port),
        "-b",
        "-",
        f"{user.name}@{server.host}",
    ]
    times = []
    peak = 0.0
    for batch in (f"put {local} {remote}\n", f"get {remote} {back}\n"):
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.PIPE)
        process.communicate(batch.encode())
        times.append(time.perf_counter() - started)
        if process.returncode:
            raise SystemExit(f"sftp failed with {process.returncode}")
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return times[0], times[1], peak


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_root_tools()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        server = SSHServer(work / "sshd")
        server.start()
        user = LocalUser.create()
        try:
            key = UserKey.generate(work)
            user.authorize(key)
            await run(args, work, server, user, key)
        finally:
            user.delete()
            server.stop()


async def run(
    args: argparse.Namespace,
    work: Path,
    server: SSHServer,
    user: LocalUser,
    key: UserKey,
) -> None:
    import asyncssh

    instance = Instance(name="bench", host=server.host, port=server.port)
    gateway = Gateway(Inventory([instance]), GatewayConfig(data_dir=work / "data"))
    gateway.known_hosts(PRINCIPAL).add(
        server.host, server.port, asyncssh.import_public_key(server.host_public_key)
    )
    await gateway.login(
        PRINCIPAL, "bench", Credentials(user.name, password=user.password)
    )
    print(f"{'MiB':>6} {'tool':>8} {'up MiB/s':>9} {'down MiB/s':>10} {'peak MiB':>9}")
    try:
        for size_mib in args.size_mib:
            local = work / "payload"
            expected = make_file(local, size_mib << 20)
            remote = f"{user.home}/bench.bin"
            best = {"gateway": [0.0, 0.0, 0.0], "sftp": [0.0, 0.0, 0.0]}
            for _ in range(args.rounds):
                up, down, mem = await gateway_round(
                    gateway, local, remote.encode(), work / "back-gw"
                )
                check(work / "back-gw", expected)
                keep(best["gateway"], size_mib / up, size_mib / down, mem)
                up, down, mem = sftp_round(
                    server, user, key, local, remote, work / "back-sftp"
                )
                check(work / "back-sftp", expected)
                keep(best["sftp"], size_mib / up, size_mib / down, mem)
            for tool, (up_rate, down_rate, mem) in best.items():
                print(
                    f"{size_mib:>6} {tool:>8} {up_rate:>9.1f} {down_rate:>10.1f} {mem:>9.1f}"
                )
            gw, sf = best["gateway"], best["sftp"]
            print(
                f"{size_mib:>6} {'ratio':>8} {gw[0] / sf[0]:>9.2f} {gw[1] / sf[1]:>10.2f}"
            )
    finally:
        await gateway.close()


def keep(best: list[float], up: float, down: float, mem: float) -> None:
    best[0], best[1] = max(best[0], up), max(best[1], down)
    best[2] = max(best[2], mem)


def check(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while data := handle.read(1 << 20):
            digest.update(data)
    if digest.hexdigest() != expected:
        raise SystemExit(f"{path} arrived damaged")


if __name__ == "__main__":
    asyncio.run(main())
