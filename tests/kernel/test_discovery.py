"""A kernel started by a real Jupyter server finds that server with no configuration."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer, execute
from sshd import SSHServer


@pytest.fixture
def lab(tmp_path: Path, sshd: SSHServer) -> Iterator[LabServer]:
    config = {
        "WorkbenchApp": {
            "instances": [{"name": "real", "host": sshd.host, "port": sshd.port}],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
        }
    }
    server = LabServer(tmp_path / "lab", config=config, base_url="/with/base/").start()
    yield server
    server.stop()


def test_kernel_client_finds_its_server_behind_token_and_base_url(
    lab: LabServer, sshd, ssh_user
):
    code = textwrap.dedent(f"""
        from jupyter_workbench import Workbench, HostKeyUnknown
        wb = Workbench()
        print(repr(wb))
        print([i.name for i in wb.instances()])
        try:
            wb.login("real", {ssh_user.name!r}, password={ssh_user.password!r})
        except HostKeyUnknown as exc:
            print("fingerprint", exc.details["fingerprint"])
        wb.login("real", {ssh_user.name!r}, password={ssh_user.password!r},
                 host_key={sshd.host_key_fingerprint!r})
        print("steps", [s.ok for s in wb.diagnose("real").steps])
    """)

    output = execute(lab, code)

    assert f"server at http://127.0.0.1:{lab.port}/with/base/" in output
    assert "['real']" in output
    assert f"fingerprint {sshd.host_key_fingerprint}" in output
    assert "steps [True, True, True, True, True]" in output
    # The login made in the kernel is the server's: the REST API sees it too.
    status, body = lab.call("GET", "workbench/api/v1/instances")
    assert body["instances"][0]["logged_in"] is True
    assert "Logged in" in lab.log_text() and ssh_user.password not in lab.log_text()


def test_workbench_magic_lists_hosts(lab: LabServer):
    output = execute(
        lab, "%load_ext jupyter_workbench\nhosts = %workbench hosts\nprint(repr(hosts))"
    )

    assert "name='real'" in output


def test_magic_errors_are_one_line(lab: LabServer):
    output = execute(
        lab,
        textwrap.dedent("""
        import sys, io
        sys.stderr = io.StringIO()
        %load_ext jupyter_workbench
        %workbench diagnose nowhere
        print(sys.stderr.getvalue())
    """),
    )

    assert output.strip().startswith("workbench: No instance named 'nowhere'")
    assert "Traceback" not in output
