"""``jupyter workbench demo``: JupyterLab with a working demo instance on first launch."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer, close_websocket
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[LabServer]:
    config = {
        "WorkbenchApp": {"ssh_config": None, "data_dir": str(tmp_path / "workbench")}
    }
    server = LabServer(
        tmp_path / "demo",
        config=config,
        command=[sys.executable, "-m", "jupyter_workbench.cli", "demo"],
    ).start()
    yield server
    server.stop()


def test_demo_instance_gives_a_working_terminal(demo: LabServer):
    status, body = demo.call("GET", "workbench/api/v1/instances")
    assert status == 200
    [instance] = [i for i in body["instances"] if i["demo"]]
    assert instance["host"] == "127.0.0.1" and instance["name"] == "demo"

    status, body = demo.call("POST", "workbench/api/v1/instances/demo/login", {})
    assert status == 200 and body["status"] == "connected", body
    status, terminal = demo.call(
        "POST", "workbench/api/v1/terminals", {"instance": "demo"}
    )
    assert status == 201, terminal

    seen = asyncio.run(_type(demo, terminal["id"], "echo $((6*7))\r", "42\r\n"))
    assert "42" in seen
    assert "demo instance 'demo' listening on 127.0.0.1" in demo.log_text()


async def _type(server: LabServer, terminal_id: str, keys: str, expect: str) -> str:
    url = server.url.replace("http://", "ws://")
    url += f"workbench/api/v1/terminals/{terminal_id}/channel"
    ws = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
    )
    seen = ""
    try:
        await ws.write_message(json.dumps(["stdin", keys]))
        while expect not in seen:
            raw = await asyncio.wait_for(ws.read_message(), 20)
            assert raw is not None, f"socket closed; saw {seen!r}"
            kind, *rest = json.loads(raw)
            if kind == "stdout":
                seen += rest[0]
    finally:
        await close_websocket(ws)
    return seen
