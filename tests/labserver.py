"""Run a real ``jupyter lab`` (or the demo command) as a subprocess for tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sshd import free_port, stop_process
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

START_TIMEOUT = 90.0
#: Screenshots and other files worth keeping from a test run (ignored by git).
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@dataclass
class LabServer:
    """A Jupyter server process on 127.0.0.1 with token auth and a base URL.

    Attributes
    ----------
    url : str
        The server's URL including the base URL, ending in ``/``.
    token : str
        The Jupyter token (random).
    """

    directory: Path
    config: dict[str, Any] = field(default_factory=dict)
    base_url: str = "/lab-test/"
    command: list[str] = field(
        default_factory=lambda: [sys.executable, "-m", "jupyterlab"]
    )
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def start(self) -> LabServer:
        """Start the server and wait until its API answers.

        Raises
        ------
        RuntimeError
            With the server's log when it exits or does not answer in time.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "root").mkdir(exist_ok=True)
        config_path = self.directory / "jupyter_server_config.json"
        config_path.write_text(json.dumps(self.config))
        self.port = free_port()
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.directory / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.directory / "runtime"),
            "JUPYTER_TOKEN": self.token,
            **self.env,
        }
        (self.directory / "config").mkdir(exist_ok=True)
        (self.directory / "config" / "jupyter_server_config.json").write_text(
            json.dumps(self.config)
        )
        args = [
            *self.command,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.base_url={self.base_url}",
            f"--ServerApp.root_dir={self.directory / 'root'}",
            "--ServerApp.allow_root=True",
        ]
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                self.get("api/status")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"jupyter did not start:\n{self.log_path.read_text(errors='replace')}"
        )

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the API with the token; return (status, JSON) without raising."""
        data = json.dumps(body if body is not None else {}).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data if method != "GET" else None,
            method=method,
            headers={
                "Authorization": f"token {self.token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            text = exc.read()
            return exc.code, json.loads(text) if text else None

    def log_text(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            stop_process(self.process, timeout=15)
            self.process = None


async def close_websocket(ws: Any, timeout: float = 10.0) -> None:
    """Close a tornado websocket client and wait until its socket is closed.

    ``close()`` only starts the closing handshake; returning before the
    server answers leaves the socket to the garbage collector, which warns.
    """
    ws.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while await ws.read_message() is not None:
                pass


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
    request = execute_request(msg_id, code)
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


def execute_request(msg_id: str, code: str) -> dict[str, Any]:
    """A Jupyter ``execute_request`` message for a kernel's channels websocket."""
    return {
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


def browser_lab(
    directory: Path,
    hosts: dict[str, Any],
    *,
    command: list[str] | None = None,
    workbench: dict[str, Any] | None = None,
) -> LabServer:
    """Start a ``jupyter lab`` for Chromium tests over the given sshd hosts.

    xterm.js draws on a canvas; its screen-reader mode, switched on here,
    mirrors the terminal rows as text in the DOM, which the tests read.
    *command* starts another Jupyter application instead (Notebook 7's
    ``[sys.executable, "-m", "notebook"]``); *workbench* adds `WorkbenchApp`
    settings (``{"record_terminals": True}``).
    """
    config = {
        "WorkbenchApp": {
            "instances": [
                {"name": name, "host": host.host, "port": host.port}
                for name, host in hosts.items()
            ],
            "ssh_config": None,
            "data_dir": str(directory / "workbench"),
            **(workbench or {}),
        },
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        },
    }
    settings = directory / "lab-settings" / "@jupyterlab" / "terminal-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(
        json.dumps({"screenReaderMode": True})
    )
    env = {"JUPYTERLAB_SETTINGS_DIR": str(directory / "lab-settings")}
    server = LabServer(directory / "lab", config=config, env=env)
    if command is not None:
        server.command = command
    return server.start()


def write_notebook(path: Path, cells: list[str]) -> None:
    """Write a notebook of code cells that names the Python 3 kernel."""
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{index}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for index, source in enumerate(cells)
        ],
        "metadata": {"kernelspec": kernel},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


def log_in_to_hosts(server: LabServer, hosts: dict[str, Any], user: Any) -> None:
    """Log *user* in to each sshd host over REST, trusting its key on first use."""
    login = {"username": user.name, "password": user.password}
    for name, host in hosts.items():
        path = f"workbench/api/v1/instances/{name}"
        status, body = server.call("POST", f"{path}/login", login)
        assert status == 409 and body["error"] == "host_key_unknown", body
        fingerprint = {"fingerprint": host.host_key_fingerprint}
        assert server.call("POST", f"{path}/hostkey", fingerprint)[0] == 200
        assert server.call("POST", f"{path}/login", login)[0] == 200
