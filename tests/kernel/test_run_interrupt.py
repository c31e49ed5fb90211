"""Interrupting a real kernel during ``%workbench run`` cancels the run on every host.

The kernel is started by a real Jupyter server and interrupted the way
JupyterLab's stop button does it: ``POST api/kernels/{id}/interrupt``, which
jupyter_client carries out by signalling the kernel process. The hosts
are three real sshd servers; the test user's processes on this machine
are where the remote commands run, so ``/proc`` shows whether any is left.
"""

from __future__ import annotations

import asyncio
import json
import pwd
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import pids_with
from labserver import LabServer, close_websocket, execute_request
from sshd import LocalUser, SSHServer
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

SLEEP = "sleep 600"


@pytest.fixture
def three_host_lab(
    tmp_path: Path, sshd: SSHServer, sshd_factory
) -> Iterator[tuple[LabServer, dict[str, SSHServer]]]:
    hosts = {"web1": sshd, "web2": sshd_factory(), "web3": sshd_factory()}
    config = {
        "WorkbenchApp": {
            "instances": [
                {"name": name, "host": host.host, "port": host.port}
                for name, host in hosts.items()
            ],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
        }
    }
    server = LabServer(tmp_path / "lab", config=config).start()
    yield server, hosts
    server.stop()


def test_kernel_interrupt_cancels_the_run_and_leaves_no_remote_process(
    three_host_lab, ssh_user: LocalUser
):
    lab, hosts = three_host_lab
    uid = pwd.getpwnam(ssh_user.name).pw_uid
    logins = "".join(
        f"wb.login({name!r}, {ssh_user.name!r}, password={ssh_user.password!r}, "
        f"host_key={host.host_key_fingerprint!r})\n"
        for name, host in hosts.items()
    )
    code = (
        "from jupyter_workbench import Workbench\n"
        "wb = Workbench()\n"
        + logins
        + textwrap.dedent(f"""\
            %load_ext jupyter_workbench
            r = %workbench run all -- {SLEEP}
            print("state", r.state, sorted({{h.state for h in r}}), len(r))
        """)
    )

    status, kernel = lab.call("POST", "api/kernels", {"name": "python3"})
    assert status == 201, kernel
    try:
        output, error = asyncio.run(run_and_interrupt(lab, kernel["id"], code, uid))
    finally:
        lab.call("DELETE", f"api/kernels/{kernel['id']}")

    assert error is None, error
    assert "Cancelling run" in output
    assert "state cancelled ['cancelled'] 3" in output
    # The run waited for every channel to close; the wrapper's KILL follows
    # its TERM within a second, so allow for that before looking.
    deadline = time.monotonic() + 15
    while pids_with(uid, SLEEP) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pids_with(uid, SLEEP)
    assert ssh_user.password not in lab.log_text()


async def run_and_interrupt(
    lab: LabServer, kernel_id: str, code: str, uid: int
) -> tuple[str, str | None]:
    """Execute *code*; once every host runs the sleep, interrupt the kernel."""
    url = lab.url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    ws = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {lab.token}"})
    )
    msg_id = uuid.uuid4().hex
    output: list[str] = []
    error: str | None = None
    interrupted = False
    reading: asyncio.Future[str | bytes | None] | None = None
    try:
        await ws.write_message(json.dumps(execute_request(msg_id, code)))
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, f"no end of the cell:\n{output}"
            if not interrupted and len(pids_with(uid, SLEEP)) >= 3:
                # Every host runs the command: interrupt as JupyterLab does.
                status, _ = await asyncio.to_thread(
                    lab.call, "POST", f"api/kernels/{kernel_id}/interrupt"
                )
                assert status == 204
                interrupted = True
            # Wait for the next message without cancelling the read on a
            # timeout, so that no message is lost between polls.
            reading = reading or asyncio.ensure_future(ws.read_message())
            done, _ = await asyncio.wait({reading}, timeout=0.2)
            if not done:
                continue
            raw, reading = reading.result(), None
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
    assert interrupted, f"the sleep never ran on three hosts:\n{''.join(output)}"
    return "".join(output), error
