"""One command on many loopback sshd hosts: the gateway's batch run against others.

Run as root from the repository (it starts private sshd servers on
127.0.0.1 and a throwaway user, as the test suite does)::

    python benchmarks/fleet.py            # 10, 50 and 200 hosts, 3 rounds
    python benchmarks/fleet.py --quick    # 5 and 20 hosts, 1 round

and read ``benchmarks/results/fleet.md`` and ``fleet.png``.

Every tool runs the same command (``echo $((6*7))``) on the same servers,
logging in with the same user and Ed25519 key, at most ``--concurrency``
hosts at a time (200: the whole fleet), in the same run. The tools take
turns within each round (the order rotates), so load from elsewhere on the
machine falls on all of them alike; each figure is the median of the rounds.

Tools
-----
``asyncssh gather``
    A bare ``asyncio.gather`` of ``asyncssh.connect`` + ``conn.run`` per
    host: the floor any asyncssh-based tool sits on. Its warm figure runs
    the command again on the connections it holds.
``gateway``
    ``Gateway.start_run`` as the notebook and the REST API use it. Cold:
    no login held, so the run connects and logs in to every host (and the
    logins stay in the pool). Warm: ``--warm-runs`` more runs on the logins
    the gateway already holds, which is how a second command from a
    notebook runs; the process's RSS after each warm run shows whether
    memory stays flat.
``pssh``
    Debian's ``parallel-ssh``: one OpenSSH ``ssh`` process per host.
``parallel-ssh``
    The parallel-ssh library (libssh2 via ssh2-python, gevent).
``fabric``
    Fabric's ``ThreadingGroup`` (paramiko, one thread per host).
``ansible``
    ``ansible all -m raw`` ad hoc (OpenSSH with ``ControlMaster=no``, one
    fork per host). ``raw`` is Ansible's cheapest module: it runs the
    command as it is, without sending Python to the host.

Every peer connects afresh on each run: only the gateway and the bare
gather have a warm figure.

How it measures
---------------
Each run of a tool is a fresh Python process (``--worker``), so that one
tool's imports, threads, gevent or memory never touch another's. The
worker times only the run, not its own start or imports: wall time, and
client CPU as user + system time of the worker and of every process it
waited for (pssh's and Ansible's ``ssh`` children included). Memory is the
peak summed PSS of the worker and its descendants, sampled by this process
every 0.2 s (PSS shares a page among the processes that map it, so forks
are not counted twice). Server CPU (sshd, PAM, the
shells) is not client CPU: with 200 hosts on two cores a cold run is bound
by the servers' login cost, which every tool pays alike.

Not run in CI: timings do not belong in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

COMMAND = "echo $((6*7))"
EXPECTED = "42"
TOOLS = ("asyncssh gather", "gateway", "pssh", "parallel-ssh", "fabric", "ansible")
#: A worker that has not finished by then is stopped (its process group).
WORKER_TIMEOUT = 1200.0
SAMPLE_EVERY = 0.2
#: Finished runs the gateway keeps per user (`RunRegistry`'s default).
HISTORY = 50
#: Warm runs over which memory must stay flat once the history is full.
TAIL_RUNS = 10


# --------------------------------------------------------------------------
# Workers: one tool, one run (plus warm runs for the gateway and the gather)


def usage_now() -> float:
    """CPU seconds of this process and of every process it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def own_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """Wall and CPU seconds of one block."""

    def __enter__(self) -> Timer:
        self.cpu, self.wall = usage_now(), time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = usage_now() - self.cpu

    def sample(self, ok: int, **extra: Any) -> dict[str, Any]:
        return {"wall": self.wall, "cpu": self.cpu, "ok": ok, **extra}


def worker_asyncssh(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncssh

    key = asyncssh.read_private_key(spec["key_path"])

    async def main() -> dict[str, Any]:
        slots = asyncio.Semaphore(spec["concurrency"])

        async def one(host: dict[str, Any]) -> tuple[Any, bool]:
            async with slots:
                conn = await asyncssh.connect(
                    host["host"],
                    host["port"],
                    username=spec["user"],
                    client_keys=[key],
                    known_hosts=None,
                    config=None,
                    agent_path=None,
                    gss_host=None,
                )
                result = await conn.run(COMMAND)
                return conn, result.stdout.strip() == EXPECTED

        with Timer() as cold:
            done = await asyncio.gather(*(one(h) for h in spec["hosts"]))
        conns = [conn for conn, _ok in done]
        warm = []
        for _ in range(spec["warm_runs"]):
            with Timer() as timer:
                results = await asyncio.gather(*(c.run(COMMAND) for c in conns))
            ok = sum(r.stdout.strip() == EXPECTED for r in results)
            warm.append(timer.sample(ok, rss=own_rss_mib()))
        for conn in conns:
            conn.close()
        await asyncio.gather(*(c.wait_closed() for c in conns))
        return {"cold": cold.sample(sum(ok for _c, ok in done)), "warm": warm}

    return asyncio.run(main())


def worker_gateway(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncssh

    from jupyter_workbench.gateway.batch import RunOptions
    from jupyter_workbench.gateway.credentials import Credentials
    from jupyter_workbench.gateway.gateway import Gateway, GatewayConfig
    from jupyter_workbench.gateway.inventory import Instance, Inventory

    principal = "bench"
    instances = [
        Instance(name=f"h{n:03d}", host=h["host"], port=h["port"])
        for n, h in enumerate(spec["hosts"])
    ]
    credentials = Credentials(spec["user"], key_path=spec["key_path"])
    options = RunOptions(concurrency=spec["concurrency"], connect_timeout=600)

    async def main() -> dict[str, Any]:
        gateway = Gateway(
            Inventory(instances),
            GatewayConfig(
                data_dir=Path(spec["scratch"]) / "gateway",
                connect_timeout=120,
                handshake_timeout=600,
            ),
        )
        for host in spec["hosts"]:
            key = asyncssh.import_public_key(host["key"])
            gateway.known_hosts(principal).add(host["host"], host["port"], key)

        async def one_run() -> int:
            run = gateway.start_run(
                principal, "all", COMMAND, options, credentials=credentials
            )
            await run.wait()
            return sum(r.stdout.text().strip() == EXPECTED for r in run.hosts.values())

        try:
            with Timer() as cold:
                ok = await one_run()
            first = cold.sample(ok, rss=own_rss_mib())
            warm = []
            for _ in range(spec["warm_runs"]):
                with Timer() as timer:
                    ok = await one_run()
                warm.append(timer.sample(ok, rss=own_rss_mib()))
        finally:
            await gateway.close()
        return {"cold": first, "warm": warm}

    return asyncio.run(main())


def worker_pssh(spec: dict[str, Any]) -> dict[str, Any]:
    binary = shutil.which("parallel-ssh") or shutil.which("pssh")
    if binary is None:
        raise Missing("parallel-ssh is not installed: apt-get install pssh")
    scratch = Path(tempfile.mkdtemp(dir=spec["scratch"]))
    hosts = scratch / "hosts"
    hosts.write_text("".join(f"{h['host']}:{h['port']}\n" for h in spec["hosts"]))
    out = scratch / "out"
    ssh_options = (
        f"-F /dev/null -i {spec['key_path']} -o IdentitiesOnly=yes "
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o BatchMode=yes -o LogLevel=ERROR"
    )
    argv = [
        binary, "-h", str(hosts), "-l", spec["user"], "-p", str(spec["concurrency"]),
        "-t", "0", "-o", str(out), "-x", ssh_options, COMMAND,
    ]  # fmt: skip
    with Timer() as timer:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = sum(p.read_text().strip() == EXPECTED for p in out.iterdir())
    return {"cold": timer.sample(ok)}


def worker_parallel_ssh(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        from pssh.clients import ParallelSSHClient
        from pssh.config import HostConfig
    except ImportError:
        raise Missing(
            "the parallel-ssh library is missing: pip install .[bench]"
        ) from None
    with Timer() as timer:
        client = ParallelSSHClient(
            [h["host"] for h in spec["hosts"]],
            user=spec["user"],
            pkey=spec["key_path"],
            pool_size=spec["concurrency"],
            host_config=[HostConfig(port=h["port"]) for h in spec["hosts"]],
            timeout=600,
            num_retries=1,
        )
        output = client.run_command(COMMAND, stop_on_errors=False)
        client.join(output)
        ok = sum(
            "\n".join(o.stdout or []).strip() == EXPECTED
            for o in output
            if o.exception is None
        )
    return {"cold": timer.sample(ok)}


def worker_fabric(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        from fabric import Connection, ThreadingGroup
        from fabric.exceptions import GroupException
    except ImportError:
        raise Missing("Fabric is missing: pip install .[bench]") from None
    connect = {
        "key_filename": spec["key_path"],
        "look_for_keys": False,
        "allow_agent": False,
    }
    with Timer() as timer:
        group = ThreadingGroup.from_connections(
            [
                Connection(
                    h["host"], port=h["port"], user=spec["user"], connect_kwargs=connect
                )
                for h in spec["hosts"]
            ]
        )
        try:
            results = group.run(COMMAND, hide=True, warn=True)
        except GroupException as exc:
            results = exc.result
        ok = sum(getattr(r, "stdout", "").strip() == EXPECTED for r in results.values())
        group.close()
    return {"cold": timer.sample(ok)}


def worker_ansible(spec: dict[str, Any]) -> dict[str, Any]:
    binary = shutil.which("ansible")
    if binary is None:
        raise Missing("Ansible is missing: pip install .[bench]")
    scratch = Path(tempfile.mkdtemp(dir=spec["scratch"]))
    inventory = scratch / "hosts.ini"
    inventory.write_text(
        "[fleet]\n"
        + "".join(
            f"h{n:03d} ansible_host={h['host']} ansible_port={h['port']}\n"
            for n, h in enumerate(spec["hosts"])
        )
        + f"[all:vars]\nansible_user={spec['user']}\n"
        f"ansible_ssh_private_key_file={spec['key_path']}\n"
    )
    (scratch / "ansible.cfg").write_text("")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(scratch / "ansible.cfg"),
        "ANSIBLE_HOME": str(scratch / "home"),
        "ANSIBLE_LOCAL_TEMP": str(scratch / "tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        # No ControlMaster: a persisting master would outlive the run.
        "ANSIBLE_SSH_ARGS": "-F /dev/null -o ControlMaster=no "
        "-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR",
        "ANSIBLE_TIMEOUT": "600",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }
    argv = [
        binary, "all", "-i", str(inventory), "-m", "raw", "-a", COMMAND,
        "-f", str(spec["concurrency"]), "-o",
    ]  # fmt: skip
    with Timer() as timer:
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
    # raw runs the command on a PTY: its output ends in a literal "\\r\\n".
    ok = sum(
        f"| rc=0 | (stdout) {EXPECTED}\\r" in line for line in done.stdout.splitlines()
    )
    return {"cold": timer.sample(ok)}


class Missing(Exception):
    """The tool is not installed here."""


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "asyncssh gather": worker_asyncssh,
    "gateway": worker_gateway,
    "pssh": worker_pssh,
    "parallel-ssh": worker_parallel_ssh,
    "fabric": worker_fabric,
    "ansible": worker_ansible,
}


def worker_main(tool: str, spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    try:
        result = WORKERS[tool](spec)
    except Missing as exc:
        result = {"missing": str(exc)}
    result["peak_rss"] = peak_rss_mib()
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------
# The parent: servers, rounds, sampling, report


class TreeSampler(threading.Thread):
    """Peak summed PSS of a process and its descendants, sampled from /proc.

    PSS (proportional set size) counts a page shared by n processes as 1/n
    in each, so the forks of one program (Ansible's) are not counted as
    many copies of it, and the sum is what the tree costs the machine.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_EVERY):
            children: dict[int, list[int]] = {}
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/stat") as handle:
                        parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                children.setdefault(parent, []).append(int(entry.name))
            total, todo = 0, [self.pid]
            while todo:
                pid = todo.pop()
                total += pss_kib(pid)
                todo += children.get(pid, [])
            self.peak = max(self.peak, total / 1024)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak


def pss_kib(pid: int) -> int:
    """The PSS of one process in KiB (0 when it has gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_worker(tool: str, spec_path: Path) -> dict[str, Any]:
    """Run one tool in a fresh process; return its figures (or its failure)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", tool, str(spec_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, so a timeout stops its children
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    try:
        out, err = process.communicate(timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return {"error": f"no result within {WORKER_TIMEOUT:g} s"}
    finally:
        tree = sampler.stop()
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        tail = "\n".join(err.strip().splitlines()[-5:])
        return {"error": f"exit {process.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["memory"] = tree or result.get("peak_rss", 0.0)
    return result


def bench_size(
    bench: Any, count: int, args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    """Start *count* sshd servers, run every tool ``--rounds`` times, stop them."""
    from common import interleaved  # puts tests/ first on sys.path

    # tests/fleet.py, not this script: common put tests/ ahead of benchmarks/.
    from fleet import start_fleet as start_servers

    print(f"{count} hosts: starting sshd servers …", file=sys.stderr, flush=True)
    servers = start_servers(bench.work / f"fleet-{count}", count)
    samples: dict[str, list[dict[str, Any]]] = {}
    try:
        spec_path = bench.work / f"spec-{count}.json"
        spec_path.write_text(
            json.dumps(
                {
                    "hosts": [
                        {"host": s.host, "port": s.port, "key": s.host_public_key}
                        for s in servers.servers
                    ],
                    "user": bench.user.name,
                    "key_path": str(bench.key.path),
                    "concurrency": args.concurrency,
                    "warm_runs": args.warm_runs,
                    "scratch": str(bench.work),
                }
            )
        )
        load = os.getloadavg()[0]
        for round_, tool in interleaved(args.rounds, args.tools):
            began = time.perf_counter()
            result = run_worker(tool, spec_path)
            if args.verbose and result.get("warm"):
                rss = " ".join(f"{w['rss']:.1f}" for w in result["warm"])
                print(f"  RSS after each warm run (MiB): {rss}", file=sys.stderr)
            result["load"] = load
            load = os.getloadavg()[0]
            samples.setdefault(tool, []).append(result)
            print(
                f"  round {round_ + 1} {tool}: {time.perf_counter() - began:.1f} s "
                f"{summarise(result)}",
                file=sys.stderr,
                flush=True,
            )
        if args.profile:
            profile(spec_path, count)
    finally:
        servers.stop()
    return samples


def profile(spec_path: Path, count: int) -> None:
    """Run the gateway once more under py-spy; write where its time went.

    Not part of the figures: the sampler slows the process it samples.
    Writes ``results/fleet-profile-<hosts>.txt``: the functions most often
    on top of the stack, and the share of samples in which each of the
    gateway's own functions was anywhere on the stack.
    """
    from common import RESULTS

    if shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy: pip install .[bench]")
    raw = Path(tempfile.mkdtemp(dir=spec_path.parent)) / "profile.txt"
    argv = [
        "py-spy", "record", "--format", "raw", "--rate", "250", "-o", str(raw),
        "--", sys.executable, __file__, "--worker", "gateway", str(spec_path),
    ]  # fmt: skip
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    top: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames, weight = stack.split(";"), int(samples)
        # A pool thread waiting for work is idle, though py-spy counts it.
        if frames[-1].startswith("_worker (concurrent/futures/thread.py"):
            continue
        total += weight
        top[frames[-1]] = top.get(frames[-1], 0) + weight
        for name in {f.split(" (")[0] for f in frames if "jupyter_workbench/" in f}:
            ours[name] = ours.get(name, 0) + weight
    lines = [
        f"py-spy, 250 Hz, gateway worker on {count} hosts: one cold run and "
        f"the warm runs; {total} busy samples (idle pool threads left out).",
        "",
        "On top of the stack:",
        *(
            f"{100 * n / total:5.1f}%  {name}"
            for name, n in sorted(top.items(), key=lambda kv: -kv[1])[:25]
        ),
        "",
        "The gateway's functions anywhere on the stack:",
        *(
            f"{100 * n / total:5.1f}%  {name}"
            for name, n in sorted(ours.items(), key=lambda kv: -kv[1])[:25]
        ),
    ]
    out = RESULTS / f"fleet-profile-{count}.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"  profile: {out}", file=sys.stderr, flush=True)


def summarise(result: dict[str, Any]) -> str:
    if "cold" not in result:
        return result.get("missing") or result.get("error", "?")
    cold = result["cold"]
    text = f"wall {cold['wall']:.2f} s cpu {cold['cpu']:.2f} s ok {cold['ok']}"
    if result.get("warm"):
        walls = sorted(w["wall"] for w in result["warm"])
        text += f"; warm {walls[len(walls) // 2]:.3f} s"
    return text


def report(
    figures: dict[int, dict[str, list[dict[str, Any]]]], args: argparse.Namespace
) -> Path:
    from common import Panel, Table, median, write_report

    cold = Table(
        "Cold runs: connect, log in and run on every host",
        [
            "hosts",
            "tool",
            "wall s",
            "wall / gather",
            "client CPU s",
            "CPU / gather",
            "client memory MiB",
            "hosts OK",
            "load at start",
        ],
    )
    warm = Table(
        "Warm runs: the same command on connections already held",
        [
            "hosts",
            "tool",
            "wall s",
            "wall / gather",
            "client CPU s",
            "CPU / gather",
            "RSS after warm run 1 MiB",
            f"RSS after warm run {args.warm_runs} MiB",
            f"RSS growth over the last {TAIL_RUNS} runs MiB",
            "hosts OK",
        ],
    )
    targets = Table("Targets (issue 4)", ["hosts", "target", "figure", "met"])
    largest: dict[str, float] = {}
    largest_cpu: dict[str, float] = {}
    warm_walls: dict[str, float] = {}
    notes: list[str] = []
    history: list[str] = []
    for count, tools in figures.items():
        medians: dict[str, tuple[float, float]] = {}
        for tool, samples in tools.items():
            good = [s for s in samples if "cold" in s]
            if not good:
                reason = samples[0].get("missing") or samples[0].get("error")
                notes.append(f"{tool} at {count} hosts: no figure ({reason})")
                continue
            wall = median([s["cold"]["wall"] for s in good])
            cpu = median([s["cold"]["cpu"] for s in good])
            medians[tool] = (wall, cpu)
            name = "gateway cold" if tool == "gateway" else tool
            cold.rows.append(
                [
                    count,
                    name,
                    wall,
                    float("nan"),
                    cpu,
                    float("nan"),
                    max(s["memory"] for s in good),
                    f"{min(s['cold']['ok'] for s in good)}/{count}",
                    median([s["load"] for s in good]),
                ]
            )
            if count == max(figures):
                largest[name], largest_cpu[name] = wall, cpu
        base = medians.get("asyncssh gather")
        for row in cold.rows:
            if row[0] == count and base:
                row[3], row[5] = row[2] / base[0], row[4] / base[1]
        warm_base = None
        for tool in ("asyncssh gather", "gateway"):
            good = [s for s in tools.get(tool, []) if s.get("warm")]
            if not good:
                continue
            runs = [w for s in good for w in s["warm"]]
            wall, cpu = (
                median([w["wall"] for w in runs]),
                median([w["cpu"] for w in runs]),
            )
            warm_base = warm_base or (wall, cpu)
            warm.rows.append(
                [
                    count,
                    f"{tool} warm",
                    wall,
                    wall / warm_base[0],
                    cpu,
                    cpu / warm_base[1] if warm_base[1] else float("nan"),
                    median([s["warm"][0]["rss"] for s in good]),
                    median([s["warm"][-1]["rss"] for s in good]),
                    median([tail_growth(s["warm"]) for s in good]),
                    f"{min(w['ok'] for w in runs)}/{count}",
                ]
            )
            if tool == "gateway":
                warm_walls[str(count)] = wall
                growth = median([tail_growth(s["warm"]) for s in good])
                if count >= 200:
                    targets.rows.append(
                        [count, "warm: 200 hosts under 2 s", f"{wall:.3f} s",
                         _met(wall < 2.0)]
                    )  # fmt: skip
                full = args.warm_runs >= HISTORY + TAIL_RUNS
                targets.rows.append(
                    [
                        count,
                        f"warm: RSS flat over the last {TAIL_RUNS} runs"
                        + ("" if full else " (run history not full yet)"),
                        f"{growth:+.1f} MiB",
                        _met(growth < 1.0),
                    ]
                )
                per_run = median(
                    [
                        (w[min(len(w), HISTORY) - 1]["rss"] - w[0]["rss"])
                        / max(1, min(len(w), HISTORY) - 1)
                        for w in (s["warm"] for s in good)
                    ]
                )
                history.append(
                    f"{count} hosts: the gateway's RSS grows by about {per_run:.2f} MiB "
                    f"per run ({1024 * per_run / count:.1f} KiB per host) until it keeps "
                    f"{HISTORY} runs"
                )
        if base and "gateway" in medians:
            wall_ratio = medians["gateway"][0] / base[0]
            cpu_ratio = medians["gateway"][1] / base[1]
            targets.rows.append(
                [count, "cold wall ≤ 1.05× gather", f"{wall_ratio:.2f}×",
                 _met(wall_ratio <= 1.05)]
            )  # fmt: skip
            targets.rows.append(
                [count, "cold CPU ≤ 1.2× gather", f"{cpu_ratio:.2f}×",
                 _met(cpu_ratio <= 1.2)]
            )  # fmt: skip
            for peer in ("pssh", "fabric", "ansible"):
                if peer in medians:
                    ahead = medians["gateway"][0] < medians[peer][0]
                    targets.rows.append(
                        [
                            count,
                            f"cold wall ahead of {peer}",
                            f"{medians['gateway'][0]:.2f} vs {medians[peer][0]:.2f} s",
                            _met(ahead),
                        ]
                    )
    cold.rows = [
        [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]] for r in cold.rows
    ]
    cold.note = (
        "Median of the rounds. Ratios are to the bare asyncssh gather at the same "
        "size. Client CPU is user + system of the tool's process and of every "
        "process it waited for (pssh's and Ansible's ssh children); memory is the "
        "peak summed PSS of that process tree (sampled every 0.2 s). pssh and "
        "Ansible times include their own interpreter start; the in-process tools "
        "are timed after their imports."
    )
    warm.note = (
        f"Median over {args.warm_runs} warm runs in each round. No peer holds "
        "connections between runs: each of their runs is a cold run. The gateway "
        f"keeps the last {HISTORY} runs of each user (for rerun, compare and the "
        "REST API), so its RSS grows with each run until that history is full and "
        "is flat after it: " + "; ".join(history) + "."
    )
    size = max(figures)
    panels = [
        Panel(f"Cold, {size} hosts", "wall s", list(largest), list(largest.values()),
              "lower"),
        Panel(f"Cold, {size} hosts", "client CPU s", list(largest_cpu),
              list(largest_cpu.values()), "lower"),
        Panel("Gateway warm run", "wall s", [f"{n} hosts" for n in warm_walls],
              list(warm_walls.values()), "lower"),
    ]  # fmt: skip
    notes = [
        f"Command: `{COMMAND}`, concurrency {args.concurrency}, {args.rounds} "
        f"round(s), tools interleaved (order rotated per round).",
        "All tools log in with the same user and unencrypted Ed25519 key; host keys "
        "are checked by the gateway (pinned) and not by the peers.",
        "Ansible runs `-m raw` (its cheapest module) with `-f` = concurrency and "
        "without ControlMaster; pssh runs `-t 0` (no timeout).",
        *args.notes,
        *notes,
    ]
    return write_report(
        "fleet",
        "Fleet: one command on many hosts",
        [cold, warm, targets],
        panels=panels,
        notes=notes,
    )


def tail_growth(warm: list[dict[str, Any]]) -> float:
    """RSS growth over the last `TAIL_RUNS` warm runs (or all of them)."""
    tail = warm[-(TAIL_RUNS + 1) :]
    return float(tail[-1]["rss"] - tail[0]["rss"])


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warm-runs",
        type=int,
        default=HISTORY + TAIL_RUNS,
        help="warm runs per round (default: enough to fill the run history)",
    )
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument(
        "--tools", nargs="+", default=list(TOOLS), choices=TOOLS, metavar="TOOL"
    )
    parser.add_argument(
        "--quick", action="store_true", help="5 and 20 hosts, one round, 12 warm runs"
    )
    parser.add_argument(
        "--note", dest="notes", action="append", default=[], help="add to the notes"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print RSS after every warm run"
    )
    parser.add_argument(
        "--report-from",
        type=Path,
        metavar="JSON",
        help="write the report from the samples of an earlier run (results/fleet.json)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run the gateway under py-spy: results/fleet-profile-<hosts>.txt",
    )
    parser.add_argument(
        "--worker", nargs=2, metavar=("TOOL", "SPEC"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker[0], Path(args.worker[1]))
        return
    if args.quick:
        args.hosts, args.rounds, args.warm_runs = [5, 20], 1, 12

    from common import RESULTS, bench_env

    if args.report_from:
        # Only the report again, from the samples of an earlier run.
        saved = json.loads(args.report_from.read_text())
        figures = {int(count): tools for count, tools in saved["figures"].items()}
        for name in ("rounds", "warm_runs", "concurrency", "notes"):
            setattr(args, name, saved["args"][name])
    else:
        figures = {}
        with bench_env(servers=0) as bench:
            for count in args.hosts:
                figures[count] = bench_size(bench, count, args)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fleet.json").write_text(
            json.dumps(
                {
                    "args": {
                        "rounds": args.rounds,
                        "warm_runs": args.warm_runs,
                        "concurrency": args.concurrency,
                        "notes": args.notes,
                    },
                    "figures": figures,
                },
                indent=1,
            )
        )
    path = report(figures, args)
    print(path.read_text())


if __name__ == "__main__":
    main()
