"""The ipywidgets file browser, driven through its widgets, on the real sshd."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sshd import LocalUser, SSHServer
from wbtest import local_workbench

from jupyter_workbench.kernel.client import Workbench
from jupyter_workbench.kernel.file_widget import FileBrowser


@pytest.fixture
def home_dir(ssh_user: LocalUser, tmp_path: Path) -> Iterator[Path]:
    path = Path(ssh_user.home) / f"widget-{tmp_path.name}"
    (path / "sub").mkdir(parents=True)
    (path / "a.txt").write_text("alpha")
    subprocess.run(["chown", "-R", f"{ssh_user.name}:", str(path)], check=True)
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


@pytest.fixture
def wb(
    tmp_path, monkeypatch, sshd: SSHServer, ssh_user: LocalUser
) -> Iterator[Workbench]:
    client = local_workbench(tmp_path, monkeypatch, sshd, ssh_user)
    yield client
    client.close()


def test_navigate_upload_download_rename_delete(
    wb: Workbench, home_dir: Path, tmp_path
):
    browser = wb.files("real").browser(str(home_dir), download_dir=str(tmp_path))
    assert isinstance(browser, FileBrowser)
    assert list(browser.listing.options) == ["sub/", "a.txt"]

    browser.listing.value = "sub/"
    browser.open_selected()
    assert browser.path == str(home_dir / "sub") and browser.listing.options == ()
    browser.upload.value = (
        {
            "name": "up.bin",
            "type": "",
            "size": 3,
            "last_modified": datetime.now(timezone.utc),
            "content": memoryview(b"xyz"),
        },
    )
    assert (home_dir / "sub" / "up.bin").read_bytes() == b"xyz"
    assert "Uploaded up.bin" in browser.status.value

    browser.go_up()
    browser.listing.value = "a.txt"
    browser.download_selected()
    assert (tmp_path / "a.txt").read_text() == "alpha"
    browser.new_name.value = "b.txt"
    browser.rename_selected()
    assert list(browser.listing.options) == ["sub/", "b.txt"]
    browser.listing.value = "sub/"
    browser.delete_selected()
    assert not (home_dir / "sub").exists()

    browser.location.value = str(home_dir / "missing")
    assert "no such file" in browser.status.value
