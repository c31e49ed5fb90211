"""``wb.run``, ``wb.aio.run`` and ``%workbench run`` on an in-process gateway.

The hosts are real sshd servers on loopback; the gateway runs inside the
test process, as it does for a script with no Jupyter server.
"""

from __future__ import annotations

import asyncio
import pwd
import sys
import time
from pathlib import Path

import pytest
from fleet import pids_with
from sshd import SSHServer
from wbtest import host_key

from jupyter_workbench.gateway.errors import WorkbenchError
from jupyter_workbench.gateway.targets import TargetError
from jupyter_workbench.kernel.client import Workbench
from jupyter_workbench.kernel.magics import WorkbenchMagics


@pytest.fixture
def wb(tmp_path: Path, monkeypatch, sshd: SSHServer, sshd_factory):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config instances
    servers = [sshd, sshd_factory(), sshd_factory()]
    inventory = tmp_path / "fleet.toml"
    inventory.write_text(
        "".join(
            f'[[instances]]\nname = "web{n}"\nhost = "{s.host}"\nport = {s.port}\n'
            for n, s in enumerate(servers, 1)
        )
    )
    client = Workbench(inventory=inventory, data_dir=tmp_path / "data")
    gateway = client.backend.gateway
    for server in servers:
        gateway.known_hosts(client.backend.principal).add(
            server.host, server.port, host_key(server)
        )
    yield client
    client.close()


def test_run_returns_results_and_shows_output_by_host(wb, ssh_user, capsys):
    result = wb.run(
        "web*",
        'echo $((6*7)); [ "${SSH_CONNECTION##* }" != 0 ] || true',
        username=ssh_user.name,
        password=ssh_user.password,
    )

    assert result.ok == ["web1", "web2", "web3"] and result.failed == []
    assert result["web2"].exit_status == 0 and result["web2"].stdout == "42\n"
    shown = capsys.readouterr()
    for name in ("web1", "web2", "web3"):
        assert f"{name} | 42" in shown.out
    assert "3/3 hosts finished" in shown.err
    assert "<td>web1</td><td>ok</td>" in result._repr_html_()
    assert ssh_user.password not in repr(result) + result._repr_html_()


def test_async_twin_and_rerun_of_failed_hosts(wb, ssh_user):
    flag = ssh_user.home / "runs-client-flag"
    flag.unlink(missing_ok=True)
    command = f'test -e {flag} || [ "${{SSH_CONNECTION##* }}" != {port(wb, "web3")} ]'

    first = asyncio.run(
        wb.aio.run(
            "web1,web3", command, username=ssh_user.name, password=ssh_user.password
        )
    )
    assert first.failed == ["web3"] and first["web3"].exit_status == 1

    flag.write_text("")
    again = wb.rerun_failed(first, live=False)
    flag.unlink()
    assert list(again.hosts) == ["web3"] and again.ok == ["web3"]
    assert first.compare(again) == {"web1": ["removed"], "web3": ["exit_status"]}


def test_interrupt_cancels_the_run_on_every_host(wb, ssh_user):
    uid = pwd.getpwnam(ssh_user.name).pw_uid
    running: set[str] = set()

    def interrupt(event):
        if event["type"] == "host" and event["state"] == "running":
            running.add(event["host"])
        if len(running) == 3:
            raise KeyboardInterrupt  # what a kernel interrupt raises here

    result = wb.run(
        "all",
        "sleep 3004",
        on_event=interrupt,
        username=ssh_user.name,
        password=ssh_user.password,
    )

    assert result.state == "cancelled"
    assert {h.state for h in result} == {"cancelled"}
    assert not pids_with(uid, "sleep 3004")


def test_magics_run_a_line_and_a_cell(wb, ssh_user, capsys):
    wb.run(
        "all", "true", username=ssh_user.name, password=ssh_user.password, live=False
    )
    magics = WorkbenchMagics(None, lambda: wb)

    line = magics.workbench('run web1,web2 -- echo "a  b" | tr a A')
    cell = magics.workbench("run web3 --timeout 30", "echo one\necho two >&2\nexit 4\n")

    assert line["web1"].stdout == "A  b\n" and line.ok == ["web1", "web2"]
    assert (cell["web3"].stdout, cell["web3"].stderr) == ("one\n", "two\n")
    assert cell["web3"].exit_status == 4 and cell.failed == ["web3"]
    shown = capsys.readouterr()
    assert "web3 | two" in shown.err


def test_bad_runs_say_what_is_wrong(wb, capsys):
    with pytest.raises(TargetError, match="'db-\\*'"):
        wb.run("db-*", "true")
    with pytest.raises(WorkbenchError, match="Unknown run option"):
        wb.run("web1", "true", timeout=3)
    magics = WorkbenchMagics(None, lambda: wb)
    assert magics.workbench("run web1") is None
    assert magics.workbench("run -- true") is None
    assert magics.workbench("run web1 --bogus -- true") is None
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "workbench: No command: %workbench run TARGETS -- COMMAND",
        "workbench: Name the targets: %workbench run web-* -- uname -r",
        "workbench: Unknown option --bogus; known: --timeout, --concurrency, "
        "--connect-timeout, --budget, --cwd, --sudo, --quiet",
    ]


def port(wb: Workbench, name: str) -> int:
    return next(i.port for i in wb.instances() if i.name == name)


def test_command_cell_runs_and_cancels(wb, ssh_user):
    wb.run(
        "all", "true", username=ssh_user.name, password=ssh_user.password, live=False
    )
    uid = pwd.getpwnam(ssh_user.name).pw_uid
    cell = wb.command_cell()
    assert cell.hosts.options == ("web1", "web2", "web3")

    cell.hosts.value = ("web1", "web3")
    cell.command.value = "echo $((6*7)); echo warn >&2"
    cell.run_button.click()
    assert cell.finished.wait(30)
    assert cell.result.ok == ["web1", "web3"]
    assert "<td>web3</td><td style='color:" in cell.status.value
    assert cell.outputs.get_title(0) == "web1: ok"
    assert "42\n\n--- stderr ---\nwarn" in cell.outputs.children[0].value

    cell.targets.value = "all"
    cell.command.value = "sleep 3005"
    cell.run_button.click()
    assert cell.run_button.disabled and not cell.cancel_button.disabled
    deadline = time.monotonic() + 15
    while len(pids_with(uid, "sleep 3005")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    cell.cancel_button.click()
    assert cell.finished.wait(30)
    assert {h.state for h in cell.result} == {"cancelled"}
    assert not pids_with(uid, "sleep 3005")


def test_command_cell_says_what_is_missing(wb):
    cell = wb.command_cell()
    cell.run_button.click()
    assert "Pick hosts" in cell.status.value
    cell.targets.value, cell.command.value = "nope", "true"
    cell.run_button.click()
    assert "Nothing matches &#x27;nope&#x27;" in cell.status.value


def test_to_dataframe_gives_one_row_per_host(wb, ssh_user):
    import pandas as pd

    web2 = port(wb, "web2")
    command = (
        "echo out-$((1+1)); "
        f'[ "${{SSH_CONNECTION##* }}" != {web2} ] || {{ echo no >&2; exit 5; }}'
    )
    result = wb.run(
        "all", command, username=ssh_user.name, password=ssh_user.password, live=False
    )

    frame = result.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["web1", "web2", "web3"]
    assert frame.index.name == "host"
    assert {"state", "exit_status", "stdout", "stderr", "duration", "error"} <= set(
        frame.columns
    )
    assert frame.loc["web1", "stdout"] == "out-2\n"
    assert frame.loc["web2", "state"] == "failed"
    assert frame.loc["web2", "exit_status"] == 5
    assert frame.loc["web2", "stderr"] == "no\n"
    assert list(frame[frame["state"] == "ok"].index) == ["web1", "web3"]
    assert (frame["duration"] > 0).all()
    assert ssh_user.password not in frame.to_string()


def test_to_dataframe_without_pandas_says_how_to_get_it(wb, ssh_user, monkeypatch):
    result = wb.run(
        "web1", "true", username=ssh_user.name, password=ssh_user.password, live=False
    )
    # None in sys.modules makes ``import pandas`` fail as if it were missing.
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(WorkbenchError, match="pip install pandas"):
        result.to_dataframe()
    assert result.ok == ["web1"]
