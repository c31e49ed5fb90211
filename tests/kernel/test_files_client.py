"""``wb.files(name)`` and ``%workbench upload|download``, in-process and over REST.

In-process against the real sshd and user; the REST backend is exercised
from a kernel of a real Jupyter server.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer, execute
from sshd import LocalUser, SSHServer
from wbtest import local_workbench

from jupyter_workbench.gateway.errors import RemoteExists, RemoteNotFound
from jupyter_workbench.kernel.client import Workbench
from jupyter_workbench.kernel.files import download_many, upload_many


@pytest.fixture
def remote_dir(ssh_user: LocalUser, tmp_path: Path) -> Iterator[Path]:
    path = Path(ssh_user.home) / f"kernel-{tmp_path.name}"
    path.mkdir()
    subprocess.run(["chown", f"{ssh_user.name}:", str(path)], check=True)
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


@pytest.fixture
def wb(
    tmp_path: Path, monkeypatch, sshd: SSHServer, ssh_user: LocalUser
) -> Iterator[Workbench]:
    client = local_workbench(tmp_path, monkeypatch, sshd, ssh_user)
    yield client
    client.close()


def test_files_in_process(wb: Workbench, remote_dir: Path, tmp_path: Path):
    fs = wb.files("real")
    odd = os.fsdecode(b"odd-\xff name")  # not UTF-8: kept as a surrogate escape

    fs.write(f"{remote_dir}/a.txt", "hello")
    fs.write(f"{remote_dir}/{odd}", b"\x00\x01")
    fs.mkdir(f"{remote_dir}/sub/deeper", parents=True)
    listed = {e.name: e for e in fs.list(str(remote_dir))}

    assert set(listed) == {"a.txt", odd, "sub"}
    assert listed["a.txt"].size == 5 and listed["sub"].is_dir
    assert fs.read(listed[odd].path) == b"\x00\x01"
    assert fs.read_text(f"{remote_dir}/a.txt") == "hello"
    assert "<table>" in fs.list(str(remote_dir))._repr_html_()

    fs.rename(listed[odd].path, f"{remote_dir}/renamed")
    with pytest.raises(RemoteExists):
        fs.rename(f"{remote_dir}/a.txt", f"{remote_dir}/renamed")
    with pytest.raises(RemoteExists):
        fs.remove(f"{remote_dir}/sub")
    fs.remove(f"{remote_dir}/sub", recursive=True)
    with pytest.raises(RemoteNotFound):
        fs.stat(f"{remote_dir}/sub")

    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(3 * 1024 * 1024 + 1))
    seen = []
    info = fs.upload(local, str(remote_dir), progress=lambda d, t: seen.append((d, t)))
    assert info.name == "big.bin" and info.size == local.stat().st_size
    assert seen[-1] == (info.size, info.size)
    back = fs.download(info.path, tmp_path / "back")
    assert back.read_bytes() == local.read_bytes()
    copied = fs.copy(info.path, f"{remote_dir}/copy.bin", instance="real")
    assert copied.size == info.size
    assert (remote_dir / "copy.bin").read_bytes() == local.read_bytes()


def test_upload_and_download_many(wb: Workbench, remote_dir: Path, tmp_path: Path):
    (tmp_path / "in").mkdir()
    for name in ("x.csv", "y.csv", "z.txt"):
        (tmp_path / "in" / name).write_text(name)
    out = io.StringIO()

    upload_many(wb, [str(tmp_path / "in" / "*.csv")], f"re*:{remote_dir}", out=out)
    saved = download_many(
        wb, f"real:{remote_dir}/*.csv", str(tmp_path / "out"), out=out
    )

    assert sorted(p.name for p in saved) == ["x.csv", "y.csv"]
    assert (tmp_path / "out" / "x.csv").read_text() == "x.csv"
    assert "100%" in out.getvalue() and "real: " in out.getvalue()


def test_files_and_magics_from_a_kernel(
    lab: LabServer, sshd: SSHServer, ssh_user: LocalUser, remote_dir: Path, tmp_path
):
    local = tmp_path / "payload.bin"
    local.write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    local.chmod(0o644)
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    code = textwrap.dedent(f"""
        import hashlib, os
        from jupyter_workbench import Workbench
        wb = Workbench()
        wb.login("real", {ssh_user.name!r}, password={ssh_user.password!r},
                 host_key={sshd.host_key_fingerprint!r})
        %load_ext jupyter_workbench
        %workbench upload {local} real:{remote_dir}
        fs = wb.files("real")
        print("listed", [e.name for e in fs.list({str(remote_dir)!r})])
        fs.write({str(remote_dir)!r} + "/note.txt", "from the kernel")
        print("read", fs.read_text({str(remote_dir)!r} + "/note.txt"))
        fs.copy({str(remote_dir)!r} + "/note.txt", {str(remote_dir)!r} + "/copied.txt")
        print("copied", fs.read_text({str(remote_dir)!r} + "/copied.txt"))
        %workbench download real:{remote_dir}/payload.bin {tmp_path}/dl
        data = open({str(tmp_path)!r} + "/dl/payload.bin", "rb").read()
        print("sha", hashlib.sha256(data).hexdigest())
        try:
            fs.read({str(remote_dir)!r} + "/missing")
        except Exception as exc:
            print("error", type(exc).__name__)
    """)

    output = execute(lab, code)

    assert "listed ['payload.bin']" in output
    assert "read from the kernel" in output
    assert "copied from the kernel" in output
    assert f"sha {digest}" in output
    assert "error RemoteNotFound" in output
    assert (remote_dir / "payload.bin").read_bytes() == local.read_bytes()


def test_an_unknown_setting_is_named_not_a_type_error(tmp_path: Path):
    from jupyter_workbench import WorkbenchError

    with pytest.raises(
        WorkbenchError, match="Unknown Workbench setting inventory_file"
    ):
        Workbench(inventory_file=tmp_path / "fleet.toml", local=True)
