"""The notebooks in ``notebooks/`` run top to bottom, every cell succeeding.

Each runs twice, in kernels started by a real Jupyter server:

- as a user who started ``jupyter workbench demo`` (``dev/demo``) has it:
  the demo instance only;
- with two real OpenSSH sshd hosts added to the inventory and listed in
  ``WORKBENCH_EXAMPLE_HOSTS``, logged in as a real user who may ``sudo``,
  for the parts the demo cannot do (several hosts, sudo, account changes).
"""

from __future__ import annotations

import json
import pwd
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from labserver import LabServer
from notebook_runner import outputs_text, run_notebook
from sshd import LocalUser, SSHServer

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["getting-started", "fleet-commands", "files", "system-administration"]
DEMO = [sys.executable, "-m", "jupyter_workbench.cli", "demo"]


def start_demo(directory: Path, *, instances=(), env=None) -> LabServer:
    config = {
        "WorkbenchApp": {
            "instances": list(instances),
            "ssh_config": None,
            "data_dir": str(directory / "workbench"),
        }
    }
    return LabServer(directory, config=config, command=DEMO, env=env or {}).start()


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = start_demo(tmp_path_factory.mktemp("demo-only"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def second_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    server = SSHServer(tmp_path_factory.mktemp("sshd-2"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hosts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("example-hosts") / "hosts.json"
    path.touch(mode=0o600)
    return path


@pytest.fixture(scope="module")
def fleet_lab(
    tmp_path_factory: pytest.TempPathFactory,
    sshd: SSHServer,
    second_sshd: SSHServer,
    sudo_user: LocalUser,
    hosts_file: Path,
) -> Iterator[LabServer]:
    hosts = {"web-1": sshd, "web-2": second_sshd}
    instances = [{"name": n, "host": h.host, "port": h.port} for n, h in hosts.items()]
    entries = [
        {
            "name": name,
            "username": sudo_user.name,
            "password": sudo_user.password,
            "host_key": host.host_key_fingerprint,
            "sudo": True,
        }
        for name, host in hosts.items()
    ]
    hosts_file.write_text(json.dumps({"hosts": entries}))
    server = start_demo(
        tmp_path_factory.mktemp("demo-and-sshd"),
        instances=instances,
        env={"WORKBENCH_EXAMPLE_HOSTS": str(hosts_file)},
    )
    yield server
    server.stop()


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_the_demo_alone(demo_lab: LabServer, name: str):
    notebook = run_notebook(demo_lab, NOTEBOOKS / f"{name}.ipynb")

    texts = outputs_text(notebook)
    if name == "getting-started":
        assert_magic_error_is_one_line(notebook)
    else:
        assert "Logged in to demo\n" in texts
    if name == "system-administration":
        assert any("changes skipped" in t for t in texts)


def assert_magic_error_is_one_line(notebook: nbformat.NotebookNode) -> None:
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    [cell] = [c for c in cells if c.source == "%workbench diagnose no-such-instance"]
    [output] = cell.outputs
    assert output.name == "stderr" and output.text.count("\n") == 1
    assert output.text.startswith("workbench: No instance named 'no-such-instance'")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_the_demo_and_two_sshd_hosts(
    fleet_lab: LabServer,
    hosts_file: Path,
    sudo_user: LocalUser,
    new_user_name: str,
    name: str,
):
    example = json.loads(hosts_file.read_text())
    hosts_file.write_text(json.dumps({**example, "new_user": new_user_name}))

    notebook = run_notebook(fleet_lab, NOTEBOOKS / f"{name}.ipynb")

    texts = outputs_text(notebook)
    everything = "\n".join(texts)
    assert sudo_user.password not in everything
    assert sudo_user.password not in fleet_lab.log_text()
    if name == "getting-started":
        return
    assert "Logged in to demo, web-1, web-2\n" in texts
    if name == "fleet-commands":
        assert "{'web-1': 'root', 'web-2': 'root'}" in everything
        assert "failed now: []" in everything
    if name == "files":
        assert "from-hosts/web-2/measurements.csv" in everything
    if name == "system-administration":
        assert f"web-2 created {new_user_name}" in everything
        assert "sudo after revoke: False" in everything
        with pytest.raises(KeyError):
            pwd.getpwnam(new_user_name)


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_without_outputs(name: str):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)

    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source


def test_every_notebook_is_tested():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)
