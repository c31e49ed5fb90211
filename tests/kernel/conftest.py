"""A real ``jupyter lab`` whose inventory holds the test sshd as ``real``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer
from sshd import SSHServer


@pytest.fixture
def lab(tmp_path: Path, sshd: SSHServer) -> Iterator[LabServer]:
    server = LabServer(tmp_path / "lab", config=lab_config(tmp_path, sshd)).start()
    yield server
    server.stop()


def lab_config(tmp_path: Path, sshd: SSHServer) -> dict[str, object]:
    return {
        "WorkbenchApp": {
            "instances": [{"name": "real", "host": sshd.host, "port": sshd.port}],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
        }
    }
