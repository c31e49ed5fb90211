"""Remote files on the real sshd: odd names, big and empty files, errors, uploads."""

# The instance is this machine: tests prepare and check its files directly,
# with quick blocking calls that the async lint rules would flag.
# ruff: noqa: ASYNC221, ASYNC230, ASYNC240

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sshd import LocalUser, SSHServer
from wbtest import PRINCIPAL, host_key, instance_for

from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import (
    ChecksumMismatch,
    NotLoggedIn,
    RemoteExists,
    RemoteNoSpace,
    RemoteNotFound,
    RemotePathError,
    RemotePermissionDenied,
)
from jupyter_workbench.gateway.files import (
    RemoteFiles,
    copy_between,
    path_from_wire,
    temp_path,
    wire_path,
)
from jupyter_workbench.gateway.gateway import Gateway

pytestmark = pytest.mark.asyncio

ODD_NAMES = [
    b"with space.txt",
    b"quote'and\"double.txt",
    b"new\nline.txt",
    "中文名.txt".encode(),
    "emoji 🚀.txt".encode(),
    b"latin1-\xe9\xff.bin",  # not UTF-8
]


@pytest.fixture
def workdir(ssh_user: LocalUser, tmp_path: Path) -> Iterator[Path]:
    """A fresh folder in the test user's home, owned by the user."""
    path = Path(ssh_user.home) / f"files-{tmp_path.name}"
    path.mkdir()
    give(path, ssh_user)
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


def give(path: Path | bytes, user: LocalUser) -> None:
    """Make the test user own *path* and everything under it (links too)."""
    subprocess.run(
        ["chown", "-R", "-h", f"{user.name}:", os.fsdecode(path)], check=True
    )


@pytest_asyncio.fixture
async def files(gateway: Gateway, ssh_user: LocalUser) -> AsyncIterator[RemoteFiles]:
    await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )
    yield gateway.files(PRINCIPAL, "real")


def remote(path: Path | bytes) -> bytes:
    return os.fsencode(path)


def leftovers(folder: Path) -> list[str]:
    """The temporary files of unfinished uploads in *folder*."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".wb-upload"))


async def sha256_of(files: RemoteFiles, path: bytes) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    async for data in files.read(path):
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size


async def test_files_need_a_login(gateway: Gateway):
    with pytest.raises(NotLoggedIn):
        gateway.files(PRINCIPAL, "real")


@pytest.mark.parametrize("size", [0, 1, 3 * 1024 * 1024 + 7])
async def test_upload_and_download_round_trip(files, workdir, size):
    data = os.urandom(size)
    target = remote(workdir / "blob")

    summary = await files.write_bytes(
        target, data, sha256=hashlib.sha256(data).hexdigest()
    )

    # A plain upload is checked by size on the instance, not re-read there.
    assert summary["size"] == size and summary["verified_remotely"] is False
    assert (workdir / "blob").read_bytes() == data
    assert await sha256_of(files, target) == (hashlib.sha256(data).hexdigest(), size)
    assert leftovers(workdir) == []


async def test_sparse_two_gib_file_downloads_with_its_checksum(
    files, workdir, ssh_user
):
    path = workdir / "sparse.img"
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3 - 3)
        handle.seek(1024**3)
        handle.write(b"middle")
    give(path, ssh_user)
    expected = subprocess.run(
        ["sha256sum", str(path)], capture_output=True, check=True, text=True
    ).stdout.split()[0]

    # The test hashes as it reads, chunk by chunk: its own memory stays flat.
    assert await sha256_of(files, remote(path)) == (expected, 2 * 1024**3 - 3)


async def test_odd_names_list_download_rename_delete(files, workdir, ssh_user):
    for name in ODD_NAMES:
        with open(remote(workdir) + b"/" + name, "wb") as handle:
            handle.write(name)
    give(workdir, ssh_user)

    listed = {e.name: e async for e in files.list(remote(workdir))}

    assert sorted(listed) == sorted(ODD_NAMES)
    for name in ODD_NAMES:
        entry = listed[name]
        assert entry.kind == "file" and entry.size == len(name)
        assert entry.owner == ssh_user.name
        wire = entry.to_dict()
        assert path_from_wire(wire["path"], wire.get("path_b64")) == entry.path
        assert b"".join([d async for d in files.read(entry.path)]) == name
        renamed = entry.path + b".renamed"
        await files.rename(entry.path, renamed)
        assert os.path.exists(renamed) and not os.path.exists(entry.path)
        await files.remove(renamed)
        assert not os.path.exists(renamed)
    assert "path_b64" in wire_path(b"latin1-\xe9\xff.bin")
    assert "path_b64" not in wire_path("中文名.txt".encode())


async def test_permission_denied_folder_names_the_path(files, workdir, ssh_user):
    locked = workdir / "locked"
    locked.mkdir()
    (locked / "secret").write_text("x")
    give(locked, ssh_user)
    locked.chmod(0)

    with pytest.raises(RemotePermissionDenied) as caught:
        [e async for e in files.list(remote(locked))]
    assert caught.value.details["path"] == str(locked)
    assert "permission denied" in caught.value.message
    with pytest.raises(RemotePermissionDenied):
        await files.write_bytes(remote(locked / "new"), b"x")


async def test_missing_file_is_not_found(files, workdir):
    with pytest.raises(RemoteNotFound) as caught:
        await files.stat(remote(workdir / "nope"))
    assert str(workdir / "nope") in caught.value.message


async def test_symlink_loop_is_listed_and_archived_without_following(
    files, workdir, ssh_user
):
    os.symlink("b", workdir / "a")
    os.symlink("a", workdir / "b")
    os.symlink(".", workdir / "self")
    (workdir / "real.txt").write_text("hello")
    give(workdir, ssh_user)

    listed = {e.name: e async for e in files.list(remote(workdir))}

    assert listed[b"a"].kind == "symlink" and listed[b"a"].target == b"b"
    assert listed[b"a"].target_kind == "broken"
    assert listed[b"self"].target_kind == "directory"
    blob = b"".join([block async for block in files.archive(remote(workdir))])
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        top = workdir.name
        assert members[f"{top}/self"].issym() and members[f"{top}/self"].linkname == "."
        assert tar.extractfile(f"{top}/real.txt").read() == b"hello"  # type: ignore[union-attr]
    assert len(members) == 5


async def test_archive_keeps_odd_names(files, workdir, ssh_user):
    for name in ODD_NAMES:
        with open(remote(workdir) + b"/" + name, "wb") as handle:
            handle.write(b"x" * 1000)
    give(workdir, ssh_user)

    blob = b"".join([block async for block in files.archive(remote(workdir))])

    with tarfile.open(fileobj=io.BytesIO(blob), encoding="utf-8") as tar:
        names = {os.fsencode(m.name).split(b"/", 1)[-1] for m in tar.getmembers()}
    assert set(ODD_NAMES) <= names


async def test_delete_folder_only_recursively(files, workdir):
    folder = remote(workdir / "tree")
    await files.mkdir(folder + b"/a/b", parents=True)
    await files.write_bytes(folder + b"/a/b/f", b"data")
    os.symlink("/", os.fsdecode(folder + b"/a/root-link"))

    with pytest.raises(RemoteExists):
        await files.remove(folder)
    assert os.path.exists(folder + b"/a/b/f")
    await files.remove(folder, recursive=True)
    assert not os.path.exists(folder)


async def test_mkdir_chmod_and_rename_refuse_to_clobber(files, workdir):
    folder = remote(workdir / "new")
    await files.mkdir(folder)
    with pytest.raises(RemoteExists):
        await files.mkdir(folder)
    await files.write_bytes(folder + b"/one", b"1")
    await files.write_bytes(folder + b"/two", b"2")
    await files.chmod(folder + b"/one", 0o600)

    assert (await files.stat(folder + b"/one")).to_dict()["permissions"] == "-rw-------"
    with pytest.raises(RemoteExists):
        await files.rename(folder + b"/one", folder + b"/two")
    await files.rename(folder + b"/one", folder + b"/two", overwrite=True)
    assert (workdir / "new" / "two").read_bytes() == b"1"


async def test_interrupted_upload_keeps_the_original_and_resumes(
    files, workdir, ssh_user
):
    target = workdir / "data.bin"
    target.write_bytes(b"original")
    give(target, ssh_user)
    target.chmod(0o640)
    new = os.urandom(5 * 1024 * 1024 + 3)

    first = await files.upload(remote(target))
    sent = 3 * 1024 * 1024 + 100
    for start in range(0, sent, 65536):  # as an HTTP body arrives
        await first.write(new[start : min(start + 65536, sent)])
    await first.close()  # the client went away mid-stream: what came is kept

    assert target.read_bytes() == b"original"
    kept = await files.upload_offset(remote(target))
    assert kept == sent
    with pytest.raises(RemotePathError):
        await files.upload(remote(target), offset=kept + 1)

    files._uploads.clear()  # as after a server restart: the hash is rebuilt
    second = await files.upload(remote(target), offset=kept)
    await second.write(new[kept:])
    summary = await second.commit(sha256=hashlib.sha256(new).hexdigest())

    assert target.read_bytes() == new
    assert summary["sha256"] == hashlib.sha256(new).hexdigest()
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert summary["verified_remotely"] is True  # resumed: re-read on the instance
    assert leftovers(workdir) == []


async def test_concurrent_uploads_to_one_path_keep_separate_files(
    files, workdir, ssh_user
):
    target = workdir / "same.bin"
    target.write_bytes(b"original")
    give(target, ssh_user)
    one, two = os.urandom(700_000), os.urandom(900_001)

    first = await files.upload(remote(target))
    second = await files.upload(remote(target))
    assert first.temp != second.temp
    for start in range(0, 900_001, 65536):  # the two bodies arrive interleaved
        await first.write(one[start : start + 65536])
        await second.write(two[start : start + 65536])
    await first.flush()
    await second.flush()
    assert len(leftovers(workdir)) == 2 and target.read_bytes() == b"original"

    done_one = await first.commit(sha256=hashlib.sha256(one).hexdigest())
    assert target.read_bytes() == one
    done_two = await second.commit(sha256=hashlib.sha256(two).hexdigest())
    await first.close()
    await second.close()

    assert target.read_bytes() == two
    assert done_one["upload"] != done_two["upload"]
    assert leftovers(workdir) == []


async def test_a_damaged_remote_copy_is_caught(files, workdir, ssh_user):
    target = workdir / "checked.bin"
    target.write_bytes(b"original")
    give(target, ssh_user)
    data = os.urandom(2 * 1024 * 1024)

    # Same size, one byte changed behind the gateway's back: sha256sum on
    # the instance (asked for here) sees it.
    upload = await files.upload(remote(target))
    await upload.write(data)
    await upload.flush()
    temp = Path(os.fsdecode(temp_path(remote(target), upload.id)))
    with open(temp, "r+b") as handle:
        handle.seek(1_000_000)
        handle.write(bytes([data[1_000_000] ^ 1]))
    with pytest.raises(ChecksumMismatch, match="instance"):
        await upload.commit(verify=True)
    await upload.close()
    assert target.read_bytes() == b"original" and leftovers(workdir) == []

    # A byte too many: the size check of every commit sees it.
    upload = await files.upload(remote(target))
    await upload.write(data)
    await upload.flush()
    temp = Path(os.fsdecode(temp_path(remote(target), upload.id)))
    with open(temp, "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ChecksumMismatch, match="size"):
        await upload.commit()
    await upload.close()
    assert target.read_bytes() == b"original" and leftovers(workdir) == []


async def test_discarding_an_upload_removes_only_its_file(files, workdir, ssh_user):
    target = workdir / "cancel.bin"
    target.write_bytes(b"original")
    give(target, ssh_user)
    upload = await files.upload(remote(target))
    await upload.write(os.urandom(600_000))
    await upload.close()
    assert (await files.pending_uploads(remote(target)))[0][:2] == (
        upload.id,
        600_000,
    )

    assert await files.discard_upload(remote(target), upload.id) is True
    assert await files.discard_upload(remote(target), upload.id) is False
    assert target.read_bytes() == b"original" and leftovers(workdir) == []
    with pytest.raises(RemotePathError, match="upload id"):
        await files.upload(remote(target), upload_id="../x")


async def test_ranges_across_read_blocks(files, workdir, ssh_user):
    data = os.urandom(3 * 1024 * 1024 + 5)
    (workdir / "r.bin").write_bytes(data)
    give(workdir / "r.bin", ssh_user)

    for offset, length in [(0, None), (1, 300_000), (261_119, 2_000_000), (7, 0)]:
        got = b"".join(
            [
                c
                async for c in files.read(
                    remote(workdir / "r.bin"), offset=offset, length=length
                )
            ]
        )
        assert got == (
            data[offset:] if length is None else data[offset : offset + length]
        )


async def test_wrong_client_checksum_leaves_the_target(files, workdir, ssh_user):
    target = workdir / "keep.txt"
    target.write_bytes(b"keep me")
    give(target, ssh_user)

    with pytest.raises(ChecksumMismatch):
        await files.write_bytes(remote(target), b"other", sha256="0" * 64)

    assert target.read_bytes() == b"keep me"
    assert leftovers(workdir) == []


async def test_full_disk_is_reported_with_the_path(files, workdir):
    small = workdir / "small"
    small.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs", str(small)],
        check=True,
    )
    try:
        with pytest.raises(RemoteNoSpace) as caught:
            await files.write_bytes(remote(small / "big"), os.urandom(2 * 1024 * 1024))
        assert str(small / "big") in caught.value.message
    finally:
        await files.close()
        subprocess.run(["umount", str(small)], check=True)


async def test_hundred_thousand_entries_are_listed(files, workdir, gateway):
    folder = workdir / "many"
    result, lease = await gateway.pool.open_session(
        PRINCIPAL,
        "real",
        lambda conn: conn.run(
            f"mkdir {folder} && cd {folder} && seq -f 'f%06g' 1 100000 | xargs touch",
            check=True,
        ),
    )
    lease.release()

    count, names = 0, set()
    async for entry in files.list(remote(folder)):
        count += 1
        names.add(entry.name)
    assert count == 100000 and b"f100000" in names and b"f000001" in names


async def test_paging_reads_the_folder_once(files, workdir, ssh_user, monkeypatch):
    for i in range(25):
        (workdir / f"f{i:02}").write_text("")
    give(workdir, ssh_user)
    started = []
    real_list = files.list

    def counting_list(path):
        started.append(path)
        return real_list(path)

    monkeypatch.setattr(files, "list", counting_list)

    seen, cursor = [], None
    while True:
        page, cursor = await files.list_page(remote(workdir), 10, cursor)
        seen += [entry.name for entry in page]
        if cursor is None:
            break
        assert cursor.startswith(f"{len(seen)}.")
    assert sorted(seen) == [f"f{i:02}".encode() for i in range(25)]
    assert len(started) == 1 and files._listings == {}

    # A cursor whose listing is gone (idle, restart) reads again and skips.
    page, cursor = await files.list_page(remote(workdir), 10)
    for token in list(files._listings):
        files._expire(token)
    rest, end = await files.list_page(remote(workdir), 100, cursor)
    assert end is None and len(started) == 3
    assert sorted([e.name for e in page + rest]) == sorted(seen)

    with pytest.raises(RemotePathError, match="cursor"):
        await files.list_page(remote(workdir), 10, "x.y")


async def test_copy_a_folder_between_instances(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser, workdir
):
    gateway = make_gateway(instance_for(sshd), instance_for(sshd, name="other"))
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    credentials = Credentials(ssh_user.name, password=ssh_user.password)
    await gateway.login(PRINCIPAL, "real", credentials)
    await gateway.login(PRINCIPAL, "other", credentials)
    source, target = gateway.files(PRINCIPAL, "real"), gateway.files(PRINCIPAL, "other")
    await source.mkdir(remote(workdir / "src" / "sub"), parents=True)
    big = os.urandom(2 * 1024 * 1024 + 1)
    await source.write_bytes(remote(workdir / "src" / "sub" / "big"), big)
    await source.symlink(b"sub/big", remote(workdir / "src" / "link"))

    copied = await copy_between(
        source, remote(workdir / "src"), target, remote(workdir / "dst")
    )

    assert copied == len(big)
    assert (workdir / "dst" / "sub" / "big").read_bytes() == big
    assert os.readlink(workdir / "dst" / "link") == "sub/big"
