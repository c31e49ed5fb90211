"""An in-process gateway's audit log names the notebook, as the server's does."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import LocalUser, SSHServer
from wbtest import local_workbench


@pytest.fixture
def remote_dir(ssh_user: LocalUser, tmp_path: Path) -> Iterator[Path]:
    path = Path(ssh_user.home) / f"audit-{tmp_path.name}"
    path.mkdir()
    subprocess.run(["chown", f"{ssh_user.name}:", str(path)], check=True)
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


def test_in_process_records_name_the_notebook(
    tmp_path: Path, monkeypatch, sshd: SSHServer, ssh_user: LocalUser, remote_dir
):
    monkeypatch.setenv("JPY_SESSION_NAME", "reports/in process.ipynb")
    wb = local_workbench(tmp_path, monkeypatch, sshd, ssh_user)
    try:
        fs = wb.files("real")
        fs.write(f"{remote_dir}/a.txt", "hello")
        assert fs.read(f"{remote_dir}/a.txt") == b"hello"
    finally:
        wb.close()

    lines = (tmp_path / "data" / "audit.jsonl").read_text().splitlines()
    events = {e["event"]: e for e in map(json.loads, lines)}
    assert {"login", "file_upload", "file_download"} <= set(events)
    for name in ("login", "file_upload", "file_download"):
        assert events[name]["notebook"] == "reports/in process.ipynb"
        assert events[name]["client"] == "in-process"
    assert events["file_upload"]["path"] == f"{remote_dir}/a.txt"
    assert ssh_user.password not in "\n".join(lines)
