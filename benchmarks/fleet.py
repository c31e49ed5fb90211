"""One command on many loopback sshd hosts: the gateway's batch run against others.

Run as root from the repository (it starts private sshd servers on
127.0.0.1 and a throwaway user, as the test suite does)::

    python benchmarks/fleet.py --hosts 10 50 200 --rounds 3 --out fleet.md

For each fleet size it measures, in the same process and on the same
servers:

- ``asyncssh gather``: a bare ``asyncio.gather`` of ``asyncssh.connect`` +
  ``conn.run`` per host, the floor any asyncssh-based tool sits on;
- ``gateway cold``: ``Gateway.start_run`` with credentials, so every host
  is connected and logged in during the run (then logged out again);
- ``gateway warm``: the same run on the logins the gateway already holds,
  which is how a second command in a notebook runs;
- ``pssh`` (Debian's ``parallel-ssh``), when installed: a fresh OpenSSH
  client per host, with a key (it cannot pass passwords).

Each figure is the median of ``--rounds``; wall time, client CPU (user +
system of this process, or of the children for pssh) and peak RSS growth
are reported, with the ratio to the bare gather. The cold runs of large
fleets are bound by the servers' login cost (sshd forks and runs PAM per
login), which is shared by every tool. Not run in CI: timings do not
belong in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import asyncssh  # noqa: E402
from fleet import start_fleet  # noqa: E402
from sshd import LocalUser, SSHServer, UserKey, require_root_tools  # noqa: E402

from jupyter_workbench.gateway.batch import RunOptions  # noqa: E402
from jupyter_workbench.gateway.credentials import Credentials  # noqa: E402
from jupyter_workbench.gateway.gateway import Gateway, GatewayConfig  # noqa: E402
from jupyter_workbench.gateway.inventory import Instance, Inventory  # noqa: E402

PRINCIPAL = "bench"
COMMAND = "echo $((6*7))"


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def measure(
    work: Callable[[], Awaitable[int]], cpu: Callable[[], float] = cpu_self
) -> tuple[float, float, float, int]:
    """Return wall seconds, CPU seconds, RSS growth (MiB), hosts that said 42."""
    rss, spent, began = rss_mib(), cpu(), time.perf_counter()
    good = await work()
    return time.perf_counter() - began, cpu() - spent, rss_mib() - rss, good


async def bare_gather(
    servers: list[SSHServer], user: LocalUser, concurrency: int
) -> int:
    slots = asyncio.Semaphore(concurrency)

    async def one(server: SSHServer) -> bool:
        async with slots:
            async with asyncssh.connect(
                server.host,
                server.port,
                username=user.name,
                password=user.password,
                known_hosts=None,
                config=None,
                client_keys=None,
                agent_path=None,
            ) as conn:
                result = await conn.run(COMMAND)
                return result.stdout == "42\n"

    return sum(await asyncio.gather(*(one(s) for s in servers)))


def make_gateway(servers: list[SSHServer], data_dir: Path) -> Gateway:
    instances = [
        Instance(name=f"h{n:03d}", host=s.host, port=s.port)
        for n, s in enumerate(servers)
    ]
    gateway = Gateway(
        Inventory(instances),
        GatewayConfig(data_dir=data_dir, connect_timeout=30, handshake_timeout=60),
    )
    for server in servers:
        key = asyncssh.import_public_key(server.host_public_key)
        gateway.known_hosts(PRINCIPAL).add(server.host, server.port, key)
    return gateway


async def gateway_run(gateway: Gateway, user: LocalUser, concurrency: int) -> int:
    run = gateway.start_run(
        PRINCIPAL,
        "all",
        COMMAND,
        RunOptions(concurrency=concurrency, connect_timeout=120),
        credentials=Credentials(user.name, password=user.password),
    )
    await run.wait()
    return sum(r.stdout.text() == "42\n" for r in run.hosts.values())


async def logout_all(gateway: Gateway) -> None:
    for instance in gateway.inventory:
        await gateway.pool.logout(PRINCIPAL, instance.name)


async def pssh_run(
    servers: list[SSHServer], user: LocalUser, key: UserKey, concurrency: int
) -> int:
    binary = shutil.which("parallel-ssh") or shutil.which("pssh")
    assert binary is not None
    with tempfile.TemporaryDirectory() as tmp:
        hosts = Path(tmp) / "hosts"
        hosts.write_text("".join(f"{s.host}:{s.port}\n" for s in servers))
        out = Path(tmp) / "out"
        process = await asyncio.create_subprocess_exec(
            binary,
            "-h", str(hosts), "-l", user.name, "-p", str(concurrency), "-o", str(out),
            "-x", f"-i {key.path} -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
            COMMAND,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await process.wait()
        return sum(p.read_text() == "42\n" for p in out.iterdir())


async def bench(args: argparse.Namespace) -> str:
    require_root_tools()
    user = LocalUser.create()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            key = UserKey.generate(Path(tmp))
            user.authorize(key)
            for count in args.hosts:
                fleet = start_fleet(Path(tmp) / f"fleet-{count}", count)
                try:
                    rows += await bench_size(fleet.servers, user, key, args, Path(tmp))
                finally:
                    fleet.stop()
    finally:
        user.delete()
    return table(rows)


async def bench_size(
    servers: list[SSHServer], user: LocalUser, key: UserKey, args, tmp: Path
) -> list[tuple[int, str, float, float, float, int]]:
    count = len(servers)
    gateway = make_gateway(servers, tmp / f"data-{count}")
    tools: dict[str, list[tuple[float, float, float, int]]] = {}

    async def add(name: str, work, cpu=cpu_self) -> None:
        tools.setdefault(name, []).append(await measure(work, cpu))

    try:
        for _round in range(args.rounds):
            await add(
                "asyncssh gather", lambda: bare_gather(servers, user, args.concurrency)
            )
            await logout_all(gateway)
            await add(
                "gateway cold", lambda: gateway_run(gateway, user, args.concurrency)
            )
            await add(
                "gateway warm", lambda: gateway_run(gateway, user, args.concurrency)
            )
            if shutil.which("parallel-ssh") or shutil.which("pssh"):
                await add(
                    "pssh",
                    lambda: pssh_run(servers, user, key, args.concurrency),
                    cpu_children,
                )
    finally:
        await gateway.close()

    rows = []
    for name, samples in tools.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        rss = max(s[2] for s in samples)
        good = min(s[3] for s in samples)
        rows.append((count, name, wall, cpu, rss, good))
    return rows


def table(rows: list[tuple[int, str, float, float, float, int]]) -> str:
    base = {(n, t): (w, c) for n, t, w, c, _r, _g in rows if t == "asyncssh gather"}
    lines = [
        "| hosts | tool | wall s | wall ratio | client CPU s | CPU ratio"
        " | RSS growth MiB | hosts OK |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for count, tool, wall, cpu, rss, good in rows:
        bw, bc = base.get((count, "asyncssh gather"), (wall, cpu))
        lines.append(
            f"| {count} | {tool} | {wall:.2f} | {wall / bw:.2f} | {cpu:.2f} | "
            f"{cpu / bc if bc else 0:.2f} | {rss:.1f} | {good}/{count} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
