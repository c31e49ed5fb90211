"""The files REST API on a real jupyter-server against the real sshd and user."""

# The instance is this machine: tests prepare and check its files directly.
# ruff: noqa: ASYNC221, ASYNC230, ASYNC240

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import subprocess
import tarfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import LocalUser
from test_routes import login

from jupyter_workbench.server.files import content_disposition


@pytest.fixture
def workdir(ssh_user: LocalUser, tmp_path: Path) -> Iterator[Path]:
    path = Path(ssh_user.home) / f"api-{tmp_path.name}"
    path.mkdir()
    subprocess.run(["chown", f"{ssh_user.name}:", str(path)], check=True)
    yield path
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


def give(path: Path, user: LocalUser) -> None:
    subprocess.run(["chown", "-R", "-h", f"{user.name}:", str(path)], check=True)


def q(path: Path | bytes) -> str:
    raw = os.fsencode(path)
    try:
        return "path=" + urllib.parse.quote(raw.decode(), safe="")
    except UnicodeDecodeError:
        return "path_b64=" + urllib.parse.quote(base64.b64encode(raw).decode())


async def fetch(jp_fetch, method, route, query, **kwargs):
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    return await jp_fetch(
        "workbench",
        "api",
        "v1",
        "instances",
        "real",
        "files",
        route,
        params=params,
        method=method,
        raise_error=False,
        **kwargs,
    )


async def test_list_stat_and_odd_names(jp_fetch, workdir, ssh_user, api, sshd):
    await login(api, sshd, ssh_user)
    names = [b"a b", b"q'\"", b"nl\nx", "中文".encode(), "🚀".encode(), b"\xff\xfe"]
    for name in names:
        with open(os.fsencode(workdir) + b"/" + name, "wb") as handle:
            handle.write(name)
    os.symlink("a b", workdir / "link")
    give(workdir, ssh_user)

    response = await fetch(jp_fetch, "GET", "list", q(workdir))
    listing = json.loads(response.body)

    entries = {
        base64.b64decode(e["name_b64"]) if "name_b64" in e else e["name"].encode(): e
        for e in listing["entries"]
    }
    assert set(entries) == {*names, b"link"} and listing["cursor"] is None
    assert entries[b"link"]["type"] == "symlink" and entries[b"link"]["target"] == "a b"
    assert entries[b"a b"]["owner"] == ssh_user.name
    for name in names:
        response = await fetch(
            jp_fetch, "GET", "download", q(os.fsencode(workdir) + b"/" + name)
        )
        assert response.code == 200 and response.body == name
        assert "filename*=UTF-8''" in response.headers["Content-Disposition"]

    bad = os.fsencode(workdir) + b"/\xff\xfe"
    response = await fetch(
        jp_fetch,
        "POST",
        "rename",
        "",
        body=json.dumps(
            {
                "path_b64": base64.b64encode(bad).decode(),
                "to_b64": base64.b64encode(bad + b".old").decode(),
            }
        ),
    )
    assert response.code == 200, response.body
    assert os.path.exists(bad + b".old")
    response = await fetch(
        jp_fetch,
        "POST",
        "delete",
        "",
        body=json.dumps({"path_b64": base64.b64encode(bad + b".old").decode()}),
    )
    assert response.code == 200 and not os.path.exists(bad + b".old")


async def test_query_paths_keep_spaces_and_control_characters(
    jp_fetch, workdir, api, sshd, ssh_user
):
    # Tornado's get_query_argument strips a value and turns control
    # characters into spaces; these names are valid UTF-8, so the listing
    # gives them as `path` (no `path_b64`) and they must work as given.
    await login(api, sshd, ssh_user)
    names = ["trail ", " lead", "tab\t", "\x1b[31mred", "bell\x07", "cr\r"]
    for name in names:
        (workdir / name).write_text(name)
    give(workdir, ssh_user)

    for name in names:
        response = await fetch(jp_fetch, "GET", "stat", q(workdir / name))
        assert response.code == 200, (name, response.body)
        assert json.loads(response.body)["name"] == name
        response = await fetch(jp_fetch, "GET", "download", q(workdir / name))
        assert response.code == 200 and response.body == name.encode()


async def test_paged_listing_continues_at_the_cursor(
    jp_fetch, workdir, api, sshd, ssh_user
):
    await login(api, sshd, ssh_user)
    for i in range(25):
        (workdir / f"f{i}").write_text("")

    seen, cursor = [], "0"
    while cursor is not None:
        response = await fetch(
            jp_fetch, "GET", "list", q(workdir) + f"&limit=10&cursor={cursor}"
        )
        page = json.loads(response.body)
        assert len(page["entries"]) <= 10
        seen += [e["name"] for e in page["entries"]]
        cursor = page["cursor"]
    assert sorted(seen) == sorted(f"f{i}" for i in range(25))


async def test_errors_name_the_path_with_http_status(
    jp_fetch, workdir, ssh_user, api, sshd
):
    await login(api, sshd, ssh_user)
    locked = workdir / "locked"
    locked.mkdir()
    give(locked, ssh_user)
    locked.chmod(0)

    response = await fetch(jp_fetch, "GET", "list", q(locked))
    body = json.loads(response.body)
    assert response.code == 403 and body["error"] == "remote_permission_denied"
    assert body["details"]["path"] == str(locked)

    response = await fetch(jp_fetch, "GET", "stat", q(workdir / "missing"))
    assert response.code == 404
    assert json.loads(response.body)["error"] == "remote_not_found"

    (workdir / "dir" / "sub").mkdir(parents=True)
    response = await fetch(
        jp_fetch, "POST", "delete", "", body=json.dumps({"path": str(workdir / "dir")})
    )
    assert response.code == 409 and (workdir / "dir" / "sub").exists()


async def test_range_requests(jp_fetch, workdir, api, sshd, ssh_user):
    await login(api, sshd, ssh_user)
    data = bytes(range(256)) * 100
    (workdir / "r.bin").write_bytes(data)

    async def get(range_header):
        return await fetch(
            jp_fetch,
            "GET",
            "download",
            q(workdir / "r.bin"),
            headers={"Range": range_header},
        )

    part = await get("bytes=10-19")
    assert part.code == 206 and part.body == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = await get("bytes=-5")
    assert tail.code == 206 and tail.body == data[-5:]
    rest = await get(f"bytes={len(data) - 3}-")
    assert rest.body == data[-3:]
    beyond = await get(f"bytes={len(data)}-")
    assert beyond.code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    whole = await fetch(jp_fetch, "GET", "download", q(workdir / "r.bin"))
    assert whole.code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    assert whole.body == data


async def test_folder_downloads_as_tar(jp_fetch, workdir, api, sshd, ssh_user):
    await login(api, sshd, ssh_user)
    (workdir / "t" / "in").mkdir(parents=True)
    (workdir / "t" / "in" / "x.txt").write_text("x" * 3000)

    response = await fetch(jp_fetch, "GET", "download", q(workdir / "t"))

    assert response.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.body)) as tar:
        assert tar.extractfile("t/in/x.txt").read() == b"x" * 3000  # type: ignore[union-attr]


async def test_chunked_upload_like_jupyterlab(jp_fetch, workdir, api, sshd, ssh_user):
    await login(api, sshd, ssh_user)
    target = workdir / "up.bin"
    target.write_bytes(b"old")
    target.chmod(0o600)
    data = os.urandom(3 * 1024 * 1024 + 5)
    pieces = [data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]

    for number, piece in enumerate(pieces, start=1):
        chunk = -1 if number == len(pieces) else number
        if chunk != -1:
            assert target.read_bytes() == b"old"
        response = await fetch(
            jp_fetch,
            "POST",
            "chunk",
            "",
            body=json.dumps(
                {
                    "path": str(target),
                    "chunk": chunk,
                    "content": base64.b64encode(piece).decode(),
                }
            ),
        )
        assert response.code in (200, 201), response.body

    summary = json.loads(response.body)
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()
    assert target.read_bytes() == data and target.stat().st_mode & 0o777 == 0o600
    # Each chunk continued the gateway's own running hash: no re-read needed.
    assert summary["verified_remotely"] is False


async def chunk_post(jp_fetch, body):
    response = await fetch(jp_fetch, "POST", "chunk", "", body=json.dumps(body))
    return response.code, json.loads(response.body)


async def test_two_chunked_uploads_to_one_path_and_a_cancel(
    jp_fetch, workdir, api, sshd, ssh_user
):
    await login(api, sshd, ssh_user)
    target = workdir / "both.bin"
    target.write_bytes(b"old")
    give(target, ssh_user)
    one, two = os.urandom(2 * 1024 * 1024), os.urandom(2 * 1024 * 1024)

    def piece(data, n):
        return base64.b64encode(data[n * 1024 * 1024 : (n + 1) * 1024 * 1024]).decode()

    code, first = await chunk_post(
        jp_fetch, {"path": str(target), "chunk": 1, "content": piece(one, 0)}
    )
    assert code == 200 and first["offset"] == 1024 * 1024
    code, second = await chunk_post(
        jp_fetch, {"path": str(target), "chunk": 1, "content": piece(two, 0)}
    )
    assert code == 200 and second["upload"] != first["upload"]
    temps = [p for p in workdir.iterdir() if p.name.endswith(".wb-upload")]
    assert len(temps) == 2

    # The second is cancelled: its file goes, the target and the first stay.
    response = await fetch(
        jp_fetch, "DELETE", "upload", q(target) + f"&upload={second['upload']}"
    )
    assert json.loads(response.body)["discarded"] is True
    code, answer = await chunk_post(
        jp_fetch,
        {
            "path": str(target),
            "chunk": -1,
            "upload": second["upload"],
            "content": piece(two, 1),
        },
    )
    assert code == 400 and answer["details"]["reason"] == "no_upload"
    assert target.read_bytes() == b"old"

    code, done = await chunk_post(
        jp_fetch,
        {
            "path": str(target),
            "chunk": -1,
            "upload": first["upload"],
            "content": piece(one, 1),
            "sha256": hashlib.sha256(one).hexdigest(),
        },
    )
    assert code == 201, done
    assert target.read_bytes() == one
    assert [p for p in workdir.iterdir() if p.name.endswith(".wb-upload")] == []


async def test_raw_upload_pending_list_and_resume_by_id(
    jp_fetch, workdir, api, sshd, ssh_user
):
    await login(api, sshd, ssh_user)
    target = workdir / "r.bin"
    data = os.urandom(1_500_000)

    response = await fetch(
        jp_fetch,
        "PUT",
        "upload",
        q(target) + "&upload=mine-1&final=0",
        body=data[:1000],
    )
    assert json.loads(response.body) == {
        "path": str(target),
        "upload": "mine-1",
        "offset": 1000,
    }
    response = await fetch(jp_fetch, "GET", "upload", q(target))
    listed = json.loads(response.body)
    assert listed["upload"] == "mine-1" and listed["offset"] == 1000
    assert [u["upload"] for u in listed["uploads"]] == ["mine-1"]

    response = await fetch(
        jp_fetch,
        "PUT",
        "upload",
        q(target) + "&upload=mine-1&offset=1000&verify=1",
        body=data[1000:],
    )
    assert response.code == 201, response.body
    assert json.loads(response.body)["verified_remotely"] is True
    assert target.read_bytes() == data

    response = await fetch(
        jp_fetch, "PUT", "upload", q(target) + "&upload=a/b", body=b"x"
    )
    assert response.code == 400


async def test_content_round_trip_with_conflict_check(
    jp_fetch, workdir, api, sshd, ssh_user
):
    await login(api, sshd, ssh_user)
    (workdir / "note.txt").write_text("hello\n")

    response = await fetch(jp_fetch, "GET", "content", q(workdir / "note.txt"))
    opened = json.loads(response.body)
    assert opened["content"] == "hello\n" and opened["format"] == "text"

    save = {
        "path": str(workdir / "note.txt"),
        "content": "hello again\n",
        "expect_sha256": opened["sha256"],
    }
    response = await fetch(jp_fetch, "PUT", "content", "", body=json.dumps(save))
    assert (
        response.code == 200 and (workdir / "note.txt").read_text() == "hello again\n"
    )

    response = await fetch(jp_fetch, "PUT", "content", "", body=json.dumps(save))
    assert response.code == 409
    assert json.loads(response.body)["details"]["reason"] == "changed"


async def _raw_put(port, path, token, query, head, total):
    """Send a PUT that promises *total* bytes and hangs up after *head*."""
    # The server runs on this test's event loop: the client must not block it.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"PUT {path}?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: token {token}\r\nContent-Length: {total}\r\n\r\n"
    ).encode()
    writer.write(request + head)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_raw_upload_cut_off_keeps_the_original_and_resumes(
    jp_fetch, jp_serverapp, jp_base_url, workdir, ssh_user, api, sshd
):
    await login(api, sshd, ssh_user)
    target = workdir / "big.bin"
    target.write_bytes(b"original")
    give(target, ssh_user)
    data = os.urandom(6 * 1024 * 1024 + 11)
    url_path = f"{jp_base_url}workbench/api/v1/instances/real/files/upload"

    await _raw_put(
        jp_serverapp.port,
        url_path,
        jp_serverapp.identity_provider.token,
        q(target),
        data[: 4 * 1024 * 1024 + 7],
        len(data),
    )
    for _ in range(100):  # until the server has seen the hang-up
        response = await fetch(jp_fetch, "GET", "upload", q(target))
        kept = json.loads(response.body)["offset"]
        if kept == 4 * 1024 * 1024 + 7:
            break
        await asyncio.sleep(0.1)

    assert target.read_bytes() == b"original"
    assert kept == 4 * 1024 * 1024 + 7  # every byte that arrived was kept
    assert len([p for p in workdir.iterdir() if p.name.endswith(".wb-upload")]) == 1

    response = await fetch(
        jp_fetch,
        "PUT",
        "upload",
        q(target) + f"&offset={kept}&sha256={hashlib.sha256(data).hexdigest()}",
        body=data[kept:],
    )
    assert response.code == 201, response.body
    assert json.loads(response.body)["verified_remotely"] is True
    assert target.read_bytes() == data


async def test_raw_upload_with_a_wrong_checksum_is_refused(
    jp_fetch, workdir, api, sshd, ssh_user
):
    await login(api, sshd, ssh_user)
    (workdir / "c.txt").write_text("before")

    response = await fetch(
        jp_fetch,
        "PUT",
        "upload",
        q(workdir / "c.txt") + "&sha256=" + "0" * 64,
        body=b"after",
    )

    assert response.code == 409
    assert json.loads(response.body)["error"] == "checksum_mismatch"
    assert (workdir / "c.txt").read_text() == "before"


@pytest.mark.parametrize(
    "name, fallback, star",
    [
        (b"plain.txt", "plain.txt", "plain.txt"),
        (b'a "quoted"\nname.txt', "a _quoted__name.txt", "a%20%22quoted%22%0Aname.txt"),
        ("报告 🚀.pdf".encode(), "__ _.pdf", "%E6%8A%A5%E5%91%8A%20%F0%9F%9A%80.pdf"),
        (b"\xff.bin", "_.bin", "%EF%BF%BD.bin"),
    ],
)
def test_content_disposition_is_safe_for_any_name(name, fallback, star):
    header = content_disposition(name)

    assert header == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{star}"
    assert "\n" not in header and "\r" not in header
