"""A real jupyter-server with the extension, its inventory pointing at the test sshd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sshd import SSHServer


@pytest.fixture
def jp_server_config(sshd: SSHServer, tmp_path: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_workbench": True}},
        "WorkbenchApp": {
            "instances": [{"name": "real", "host": sshd.host, "port": sshd.port}],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
            "connect_timeout": 3.0,
        },
    }


@pytest.fixture
def api(jp_fetch):
    """Call the workbench API; returns (status, JSON body) without raising."""

    async def call(method: str, *path: str, body: Any = None, **kwargs: Any):
        data = None if body is None else json.dumps(body)
        if method in ("POST", "PUT") and data is None:
            data = "{}"
        response = await jp_fetch(
            "workbench",
            "api",
            "v1",
            *path,
            method=method,
            body=data,
            raise_error=False,
            **kwargs,
        )
        text = response.body.decode() if response.body else ""
        return response.code, (json.loads(text) if text else None)

    return call
