"""The audit log of a real jupyter-server: file operations over REST and desktops.

Files go to the real sshd; desktops go to the STAND-IN guacd of
`tests/guacd_standin.py` (guacd is not packaged for this Debian). The
audit log is read back after the operations, and every file the server
wrote and its log are searched for the passwords.
"""

# The instance is this machine: the test prepares its files directly.
# ruff: noqa: ASYNC230, ASYNC240

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guacd_standin import GuacdStandIn
from sshd import LocalUser, SSHServer
from test_rdp_api import create, tunnel
from test_routes import login

RDP_PASSWORD = "Desk-top pässword 🔑"
ORIGIN = {"X-Workbench-Notebook": "audit/files.ipynb", "X-Workbench-Cell": "12"}


def desktop_and_shell_config(
    sshd: SSHServer, guacd: GuacdStandIn, tmp_path: Path, **settings: Any
) -> dict[str, Any]:
    """Server config with the real sshd and an RDP instance behind the guacd stand-in."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_workbench": True}},
        "WorkbenchApp": {
            "instances": [
                {"name": "real", "host": sshd.host, "port": sshd.port},
                {"name": "win-1", "host": "127.0.0.1", "protocol": "rdp"},
            ],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
            "connect_timeout": 3.0,
            "guacd_host": guacd.host,
            "guacd_port": guacd.port,
            **settings,
        },
    }


@pytest.fixture
def jp_server_config(
    sshd: SSHServer, guacd: GuacdStandIn, tmp_path: Path
) -> dict[str, Any]:
    return desktop_and_shell_config(sshd, guacd, tmp_path)


@pytest.fixture
def workdir(ssh_user: LocalUser, tmp_path: Path) -> Iterator[Path]:
    path = Path(ssh_user.home) / f"audit-{tmp_path.name}"
    path.mkdir()
    subprocess.run(["chown", f"{ssh_user.name}:", str(path)], check=True)
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


def audit_events(tmp_path: Path, prefix: str) -> list[dict[str, Any]]:
    text = (tmp_path / "workbench" / "audit.jsonl").read_text()
    events = [json.loads(line) for line in text.splitlines()]
    return [e for e in events if e["event"].startswith(prefix)]


def assert_nowhere(secrets: list[str], tmp_path: Path, caplog) -> None:
    """Search the server log and every file under the test's folder."""
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "audit.jsonl" for p in written)
    for secret in secrets:
        assert secret not in log_text
        for path in written:
            assert secret.encode() not in path.read_bytes(), path


async def test_file_operations_over_rest_are_audited_with_notebook_and_client(
    api, sshd, ssh_user, workdir, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    await login(api, sshd, ssh_user)
    data = "audit me ✓\n" * 1000
    digest = hashlib.sha256(data.encode()).hexdigest()
    path = f"{workdir}/notes.txt"

    status, saved = await api(
        "PUT",
        "instances",
        "real",
        "files",
        "content",
        body={"path": path, "content": data},
        headers=ORIGIN,
    )
    assert status == 200, saved
    status, opened = await api(
        "GET", "instances", "real", "files", "content", params={"path": path}
    )
    assert status == 200 and opened["content"] == data
    status, _ = await api(
        "POST",
        "instances",
        "real",
        "files",
        "rename",
        body={"path": path, "to": f"{workdir}/renamed.txt"},
    )
    assert status == 200
    status, _ = await api(
        "POST",
        "instances",
        "real",
        "files",
        "delete",
        body={"path": f"{workdir}/renamed.txt"},
    )
    assert status == 200

    upload, download, rename, delete = audit_events(tmp_path, "file_")
    assert (upload["event"], upload["outcome"]) == ("file_upload", "ok")
    assert (upload["path"], upload["size"], upload["sha256"]) == (
        path,
        len(data.encode()),
        digest,
    )
    assert (upload["notebook"], upload["cell"]) == ("audit/files.ipynb", "12")
    assert (download["event"], download["sha256"]) == ("file_download", digest)
    assert "notebook" not in download, "only the calls that named a notebook"
    assert rename["to"] == f"{workdir}/renamed.txt"
    assert delete["event"] == "file_delete" and delete["path"] == rename["to"]
    for event in (upload, download, rename, delete):
        assert event["user"] and event["instance"] == "real"
        assert event["client"] == "127.0.0.1"
    assert_nowhere([ssh_user.password], tmp_path, caplog)


async def test_desktops_are_audited_when_opened_and_closed(
    api, jp_ws_fetch, guacd, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    status, created = await create(api, password=RDP_PASSWORD)
    assert status == 201, created
    browser = await tunnel(jp_ws_fetch, created["id"])
    await browser.read_until("sync")
    connection = guacd.wait_connected()
    browser.ws.close()
    await guacd.closed(connection)

    async def closed() -> None:
        while not audit_events(tmp_path, "rdp_close"):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(closed(), 10)

    guacd.password = "something else"
    _, refused = await create(api, password=RDP_PASSWORD)
    browser = await tunnel(jp_ws_fetch, refused["id"])
    await browser.read_until("error")
    browser.ws.close()

    opened, ended, failed = audit_events(tmp_path, "rdp_")
    assert (opened["event"], opened["outcome"], opened["mode"]) == (
        "rdp_open",
        "ok",
        "guacd",
    )
    assert (opened["instance"], opened["login_user"], opened["domain"]) == (
        "win-1",
        "Administrator",
        "CORP",
    )
    assert opened["desktop"] == created["id"] and opened["client"] == "127.0.0.1"
    assert (ended["event"], ended["desktop"]) == ("rdp_close", created["id"])
    assert ended["duration"] >= 0
    assert (failed["event"], failed["outcome"], failed["desktop"]) == (
        "rdp_open",
        "failed",
        refused["id"],
    )
    assert failed["error"]
    assert_nowhere([RDP_PASSWORD], tmp_path, caplog)
