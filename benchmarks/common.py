"""Shared harness for the benchmarks: loopback hosts, a Jupyter server, timing, reports.

Every benchmark script builds on the same few pieces, so that their
figures are taken the same way and their reports look alike:

- :func:`bench_env` makes a scratch directory, one throwaway local user
  (with a password and an ed25519 key) and any number of real OpenSSH
  ``sshd`` servers on 127.0.0.1, reusing ``tests/sshd.py``; on exit it
  stops the servers by PID and deletes the user and its processes.
- :func:`workbench_server` starts a real ``jupyter server`` with the
  workbench extension over those hosts and logs in to them through the
  REST API, as the browser does (host key approved by fingerprint).
- :func:`median`, :func:`percentile`, :func:`rss_mib`, :func:`cpu_seconds`
  and :func:`interleaved` take the measurements.
- :class:`Table`, :class:`Panel`, :func:`write_report` and
  :func:`machine_note` write ``benchmarks/results/<name>.md`` and
  ``<name>.png`` (matplotlib, only imported when a plot is written).

Run the scripts as root from the repository root: sshd and ``useradd``
need it, as for the test suite. Nothing here is used by the tests.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

sys.path.insert(0, str(ROOT / "tests"))

from labserver import LabServer  # noqa: E402
from sshd import (  # noqa: E402
    LocalUser,
    SetupError,
    SSHServer,
    UserKey,
    require_root_tools,
    stop_process,
)

__all__ = [
    "RESULTS",
    "Bench",
    "LabServer",
    "LocalUser",
    "Panel",
    "SSHServer",
    "Table",
    "UserKey",
    "bench_env",
    "cpu_seconds",
    "interleaved",
    "machine_note",
    "median",
    "percentile",
    "rss_mib",
    "stop_process",
    "workbench_server",
    "write_report",
]

API = "workbench/api/v1/"


# --------------------------------------------------------------------------
# Hosts


@dataclass
class Bench:
    """A scratch directory, one local user and the loopback sshd servers.

    Attributes
    ----------
    work : Path
        Scratch directory, removed on exit.
    user : LocalUser
        The throwaway user every server lets in (password and key).
    key : UserKey
        The user's ed25519 key, authorised on every server.
    servers : list of SSHServer
        The running servers, in start order.
    """

    work: Path
    user: LocalUser
    key: UserKey
    servers: list[SSHServer] = field(default_factory=list)

    @property
    def server(self) -> SSHServer:
        """The first server."""
        return self.servers[0]

    def add_servers(self, count: int) -> list[SSHServer]:
        """Start ``count`` more sshd servers and return them."""
        added = []
        for _ in range(count):
            server = SSHServer(self.work / f"sshd-{len(self.servers)}")
            self.servers.append(server)
            server.start()
            added.append(server)
        return added

    def ssh_args(self, *options: str, server: SSHServer | None = None) -> list[str]:
        """An OpenSSH ``ssh`` command line (without the remote command).

        ``options`` go right after ``ssh`` (``-tt``, ``-o ...``). Logs in with
        the key, trusts the host key from the server's own
        file (no prompt, nothing written to ``~/.ssh``) and ignores the
        user's ssh config.
        """
        server = server or self.server
        known = self.work / f"known_hosts-{server.port}"
        if not known.exists():
            known.write_text(server.known_hosts_line())
        return [
            "ssh",
            *options,
            "-F",
            "/dev/null",
            "-i",
            str(self.key.path),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            str(server.port),
            f"{self.user.name}@{server.host}",
        ]


@contextlib.contextmanager
def bench_env(servers: int = 1) -> Iterator[Bench]:
    """Yield a :class:`Bench` with ``servers`` sshd servers; clean up after.

    Raises
    ------
    SystemExit
        When sshd or the user tools are missing or we are not root.
    """
    try:
        require_root_tools()
    except SetupError as exc:
        raise SystemExit(f"benchmarks need root and OpenSSH: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as scratch:
        work = Path(scratch)
        os.chmod(work, 0o755)  # the user's sshd session reads nothing here
        user = LocalUser.create()
        bench = Bench(work, user, UserKey.generate(work))
        try:
            user.authorize(bench.key)
            bench.add_servers(servers)
            yield bench
        finally:
            for server in bench.servers:
                server.stop()
            user.delete()


def workbench_server(
    bench: Bench,
    servers: Sequence[SSHServer] | None = None,
    *,
    config: dict[str, Any] | None = None,
    login: bool = True,
    env: dict[str, str] | None = None,
) -> LabServer:
    """Start ``jupyter server`` with the workbench over ``servers`` and log in.

    Instances are named ``h0``, ``h1``, ... in the order of ``servers``
    (default: all of the bench's servers). With ``login`` the bench user
    logs in to each by password through the REST API, approving the host
    key by its fingerprint as a user would. ``config`` is merged into the
    ``WorkbenchApp`` section. Stop the returned server with ``.stop()``.
    """
    servers = list(bench.servers if servers is None else servers)
    directory = Path(tempfile.mkdtemp(prefix="jupyter-", dir=bench.work))
    workbench: dict[str, Any] = {
        "instances": [
            {"name": f"h{index}", "host": server.host, "port": server.port}
            for index, server in enumerate(servers)
        ],
        "ssh_config": None,
        "data_dir": str(directory / "workbench"),
        **(config or {}),
    }
    lab = LabServer(
        directory,
        config={"WorkbenchApp": workbench},
        command=[sys.executable, "-m", "jupyter_server"],
        base_url="/",
        env=env or {},
    ).start()
    try:
        if login:
            for index, server in enumerate(servers):
                log_in(lab, f"h{index}", server, bench.user)
    except BaseException:
        lab.stop()
        raise
    return lab


def log_in(lab: LabServer, name: str, server: SSHServer, user: LocalUser) -> None:
    """Log ``user`` in to instance ``name`` through the REST API."""
    path = f"{API}instances/{name}"
    body = {"username": user.name, "password": user.password}
    status, answer = lab.call("POST", f"{path}/login", body)
    if status == 409 and answer and answer.get("error") == "host_key_unknown":
        fingerprint = {"fingerprint": server.host_key_fingerprint}
        lab.call("POST", f"{path}/hostkey", fingerprint)
        status, answer = lab.call("POST", f"{path}/login", body)
    if status != 200:
        raise RuntimeError(f"login to {name} failed: {status} {answer}")


# --------------------------------------------------------------------------
# Measurements


def median(values: Sequence[float]) -> float:
    """The median (``nan`` for no values)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest-rank on the sorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def rss_mib(pid: int | None = None) -> float:
    """Resident set of a process (default: this one) in MiB, from /proc."""
    with open(f"/proc/{pid or 'self'}/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (default: this one)."""
    with open(f"/proc/{pid or 'self'}/stat") as handle:
        # The command name may hold spaces: fields count from after its ")".
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interleaved(rounds: int, names: Sequence[str]) -> Iterator[tuple[int, str]]:
    """Yield ``(round, name)``: every tool once per round, order rotated.

    Running the tools in turn, rather than one after the other, spreads
    the load of a busy machine over all of them alike.
    """
    for index in range(rounds):
        shift = index % len(names)
        for name in [*names[shift:], *names[:shift]]:
            yield index, name


# --------------------------------------------------------------------------
# Reports


@dataclass
class Table:
    """One Markdown table: a title, column names, rows and a note below."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    note: str = ""

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"


@dataclass
class Panel:
    """One bar chart in the plot: a value per label, lower or higher is better."""

    title: str
    ylabel: str
    labels: Sequence[str]
    values: Sequence[float]
    better: str = "higher"  # or "lower": shown in the title


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "n/a"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout + done.stderr).strip().splitlines()[0]


def machine_note() -> str:
    """One paragraph about the machine, its load and the tool versions."""
    import asyncssh

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), load average {load} at the end; "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"asyncssh {asyncssh.__version__}, {_version(['ssh', '-V'])}."
    )


def write_report(
    name: str,
    title: str,
    tables: Sequence[Table],
    *,
    panels: Sequence[Panel] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Write ``results/<name>.md`` (and ``<name>.png`` when ``panels``).

    The Markdown names the command that produced it (this process's own
    command line), the date, the machine and its load, then the tables and
    the notes. Returns the Markdown path.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", *sys.argv])
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"# {title}",
        "",
        f"Produced by `{command}` on {stamp}.",
        "",
        machine_note(),
        "",
    ]
    if panels:
        parts += [f"![{title}]({name}.png)", ""]
    parts += [table.markdown() for table in tables]
    if notes:
        parts += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    markdown = RESULTS / f"{name}.md"
    markdown.write_text("\n".join(parts))
    if panels:
        _plot(RESULTS / f"{name}.png", title, panels)
    return markdown


def _plot(path: Path, title: str, panels: Sequence[Panel]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False
    )
    for axis, panel in zip(axes[0], panels, strict=True):
        values = [0.0 if value != value else value for value in panel.values]
        bars = axis.bar(range(len(values)), values, color="#4878a8")
        for bar, value in zip(bars, panel.values, strict=True):
            axis.annotate(
                _cell(float(value)),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        axis.set_xticks(range(len(values)))
        axis.set_xticklabels(panel.labels, rotation=20, ha="right", fontsize=8)
        axis.set_title(f"{panel.title}\n({panel.better} is better)", fontsize=9)
        axis.set_ylabel(panel.ylabel, fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate()`` every 50 ms until true; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def which(program: str) -> str | None:
    """The path of ``program``, or None (for optional peers)."""
    return shutil.which(program)
