"""A kernel started by a real Jupyter server finds that server with no configuration.

In JupyterLab behind a token and a base URL, in Notebook 7, and in a server
set up as JupyterHub starts a user's server: the ``JUPYTERHUB_*`` variables
a hub gives its single-user servers and a ``/user/NAME/`` base URL. No hub
runs here: the hub's own OAuth login is not what kernels use (they use the
workbench's kernel key), so the single-user server's environment is what
matters for discovery.
"""

from __future__ import annotations

import secrets
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer, execute
from sshd import SSHServer, free_port


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


def workbench_config(tmp_path: Path, sshd: SSHServer) -> dict[str, object]:
    return {
        "WorkbenchApp": {
            "instances": [{"name": "real", "host": sshd.host, "port": sshd.port}],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
        }
    }


FIND_AND_LOG_IN = """
from jupyter_workbench import Workbench
wb = Workbench()
print(repr(wb))
print([i.name for i in wb.instances()])
wb.login("real", {user!r}, password={password!r}, host_key={fingerprint!r})
print("as", wb.explain("LoginInstance", "real")["user"])
"""


def test_kernel_client_finds_a_notebook_7_server(
    tmp_path: Path, sshd: SSHServer, ssh_user
):
    server = LabServer(
        tmp_path / "notebook7",
        config=workbench_config(tmp_path, sshd),
        base_url="/nb7/",
        command=[sys.executable, "-m", "notebook"],
    ).start()
    try:
        code = FIND_AND_LOG_IN.format(
            user=ssh_user.name,
            password=ssh_user.password,
            fingerprint=sshd.host_key_fingerprint,
        )
        output = execute(server, code)
        status, body = server.call("GET", "workbench/api/v1/instances")
    finally:
        server.stop()

    assert "notebook | extension was successfully loaded" in server.log_text()
    assert f"server at http://127.0.0.1:{server.port}/nb7/" in output
    assert "['real']" in output
    assert status == 200 and body["instances"][0]["logged_in"] is True


def test_kernel_client_finds_a_jupyterhub_single_user_server(
    tmp_path: Path, sshd: SSHServer, ssh_user
):
    port = free_port()
    prefix = "/user/alice/"
    # What JupyterHub's spawner gives a user's server (no hub answers at
    # the API URL: nothing here may call it).
    hub_env = {
        "JUPYTERHUB_USER": "alice",
        "JUPYTERHUB_SERVER_NAME": "",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}{prefix}",
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{free_port()}/hub/api",
        "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-alice",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        "JUPYTERHUB_HOST": "",
    }
    server = LabServer(
        tmp_path / "hub-user",
        config=workbench_config(tmp_path, sshd),
        base_url=prefix,
        env=hub_env,
    )
    try:
        server.start()
        code = FIND_AND_LOG_IN.format(
            user=ssh_user.name,
            password=ssh_user.password,
            fingerprint=sshd.host_key_fingerprint,
        )
        output = execute(server, code)
        status, body = server.call("GET", "workbench/api/v1/instances")
    finally:
        server.stop()

    assert f"server at http://127.0.0.1:{server.port}/user/alice/" in output
    # The kernel acts as the hub's user, and the browser (the token here)
    # sees the same login.
    assert "as alice" in output
    assert status == 200 and body["instances"][0]["logged_in"] is True
