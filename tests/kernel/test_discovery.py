"""A kernel started by a real Jupyter server finds that server with no configuration."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer, close_websocket
from sshd import SSHServer
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


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


def execute(server: LabServer, code: str, timeout: float = 60.0) -> str:
    """Run *code* in a new kernel of *server*; return its stdout, or raise with its error."""
    status, kernel = server.call("POST", "api/kernels", {"name": "python3"})
    assert status == 201, kernel
    try:
        output, error = asyncio.run(_run(server, kernel["id"], code, timeout))
    finally:
        server.call("DELETE", f"api/kernels/{kernel['id']}")
    if error:
        raise AssertionError(f"the kernel failed:\n{error}\n{output}")
    return output


async def _run(server: LabServer, kernel_id: str, code: str, timeout: float):
    url = server.url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    }
    ws = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
    )
    output, error = [], None
    try:
        await ws.write_message(json.dumps(request))
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            assert raw is not None, "the kernel socket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                error = "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                break
    finally:
        await close_websocket(ws)
    return "".join(output), error


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
