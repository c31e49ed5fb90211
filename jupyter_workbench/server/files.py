"""REST handlers for remote files: list, stat, change, download, upload.

Paths travel as ``path`` (text) or ``path_b64`` (base64 of the raw bytes,
for names that are not UTF-8), in the query string or the JSON body; see
docs/api.md. Downloads and raw uploads stream with backpressure: a chunk
is read from (or written to) the instance only when the previous one has
left the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import hashlib
import json
import re
import string
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator
from email.utils import formatdate
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from ..gateway.errors import ChecksumMismatch, RemotePathError
from ..gateway.file_audit import AuditedFiles
from ..gateway.files import (
    FileEntry,
    RemoteFiles,
    Upload,
    path_from_wire,
    show,
    wire_path,
)
from .base import WorkbenchHandler

MAX_UPLOAD = 1 << 40  # a raw PUT streams; this only bounds a runaway client
MAX_TEXT = 16 * 1024 * 1024  # the editor's limit for files opened as content
BODY_PIECE = 1 << 20  # how much of an upload's body tornado reads at once
LIST_FLUSH = 500  # entries per flushed piece of a streamed listing
_SAFE = set(string.ascii_letters + string.digits + " !#$&+,-.;=@^_`{}~()[]")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class FilesHandler(WorkbenchHandler):
    """Shared by the file handlers: which path, which instance's files."""

    def files(self, name: str, *, write: bool = False) -> AuditedFiles:
        return self.gateway.files(self.principal, name, write=write)

    def query_path(self, key: str = "path") -> bytes:
        return _path(self._raw_query(key), self.get_query_argument(f"{key}_b64", None))

    def _raw_query(self, key: str) -> str | None:
        # get_query_argument strips the value and turns control characters
        # into spaces, which would address another file ("a " as "a").
        values = self.request.query_arguments.get(key)
        if not values:
            return None
        try:
            return str(values[-1].decode())
        except UnicodeDecodeError:
            raise web.HTTPError(
                400, reason=f"'{key}' must be UTF-8; send '{key}_b64' instead"
            ) from None

    def body_path(self, body: dict[str, Any], key: str = "path") -> bytes:
        text, b64 = body.get(key), body.get(f"{key}_b64")
        if not isinstance(text, (str, type(None))) or not isinstance(
            b64, (str, type(None))
        ):
            raise web.HTTPError(400, reason=f"'{key}' must be a string")
        return _path(text, b64)


class FileStatHandler(FilesHandler):
    """What a path is: type, size, mode, owner, mtime, link target.

    A link is described itself, or with ``follow=1`` what it points at.
    """

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        follow = self.get_query_argument("follow", "") in ("1", "true")
        entry = await self.files(name).stat(self.query_path(), follow=follow)
        self.reply(entry.to_dict())


class FileListHandler(FilesHandler):
    """The entries of a folder, streamed as one JSON document.

    ``limit`` caps the entries of one answer; ``cursor`` (from the previous
    answer) continues after them, on the listing the gateway held open.
    """

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        files = self.files(name)
        path = self.query_path()
        limit = _whole(self.get_query_argument("limit", "0"), "limit")
        cursor = self.get_query_argument("cursor", None)
        if limit:
            entries, after = await files.list_page(path, limit, cursor or None)
            self.reply(
                {
                    **wire_path(path),
                    "entries": [entry.to_dict() for entry in entries],
                    "cursor": after,
                }
            )
            return
        if cursor and cursor != "0":
            raise web.HTTPError(400, reason="'cursor' goes with 'limit'")
        listing = files.list(path)

        # Errors (missing folder, no permission) must still become a JSON
        # error answer, so the first entry is fetched before anything is sent.
        async with contextlib.aclosing(listing):
            first = await anext(listing, None)
            self.set_header("Content-Type", "application/json")
            self.write('{"path": ' + _json(wire_path(path)) + ', "entries": [')
            sent = 0
            async for entry in _chain(first, listing):
                self.write(("," if sent else "") + _json(entry.to_dict()))
                sent += 1
                if sent % LIST_FLUSH == 0:
                    await self.flush()
        self.finish('], "cursor": null}')


class FileOpHandler(FilesHandler):
    """mkdir, rename, delete, chmod and copy, each a POST with a JSON body."""

    @web.authenticated
    @authorized
    async def post(self, name: str, op: str) -> None:
        body = self.body()
        path = self.body_path(body)
        files = self.files(name, write=op != "copy")
        if op == "mkdir":
            await files.mkdir(path, parents=bool(body.get("parents")))
        elif op == "rename":
            target = self.body_path(body, "to")
            await files.rename(path, target, overwrite=bool(body.get("overwrite")))
            path = target
        elif op == "delete":
            await files.remove(path, recursive=bool(body.get("recursive")))
            self.reply({**wire_path(path), "deleted": True})
            return
        elif op == "chmod":
            mode = body.get("mode")
            if isinstance(mode, bool) or not isinstance(mode, int):
                raise web.HTTPError(400, reason="'mode' must be a number such as 420")
            await files.chmod(path, mode)
        elif op == "copy":
            to_instance = body.get("to_instance", name)
            if not isinstance(to_instance, str):
                raise web.HTTPError(400, reason="'to_instance' must name an instance")
            target_files = self.files(to_instance, write=True)
            target = self.body_path(body, "to")
            copied = await files.copy_to(path, target_files, target)
            entry = await target_files.stat(target)
            self.reply({**entry.to_dict(), "copied_bytes": copied})
            return
        self.reply((await files.stat(path)).to_dict())


class FileDownloadHandler(FilesHandler):
    """A file's bytes (with Range), or a folder as a streamed tar archive."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        files = self.files(name)
        path = self.query_path()
        entry = await files.stat(path, follow=True)
        inline = self.get_query_argument("inline", "") in ("1", "true")
        if entry.kind == "directory":
            self.set_header("Content-Type", "application/x-tar")
            self.set_header(
                "Content-Disposition", content_disposition(entry.name + b".tar")
            )
            await self._stream(files.archive(path))
            return
        if entry.kind != "file":
            raise RemotePathError(
                f"Cannot download {show(path)}: it is a {entry.kind}, not a file "
                "or folder",
                path=show(path),
                reason="not_a_file",
            )
        await self._send_file(files, entry, inline)

    async def _send_file(
        self, files: AuditedFiles, entry: FileEntry, inline: bool
    ) -> None:
        size = entry.size
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", content_disposition(entry.name, inline))
        self.set_header("Last-Modified", _http_date(entry.mtime))
        span = _range(self.request.headers.get("Range"), size)
        if span is None:
            start, length = 0, size
        elif isinstance(span, str):
            self.set_status(416)
            self.set_header("Content-Range", f"bytes */{size}")
            self.finish()
            return
        else:
            start, length = span
            self.set_status(206)
            self.set_header(
                "Content-Range", f"bytes {start}-{start + length - 1}/{size}"
            )
        self.set_header("Content-Length", str(length))
        await self._stream(
            files.download(entry.path, offset=start, length=length, size=size)
        )

    async def _stream(self, chunks: AsyncGenerator[bytes, None]) -> None:
        async with contextlib.aclosing(chunks):
            async for data in chunks:
                self.write(data)
                try:
                    await self.flush()
                except StreamClosedError:
                    return  # the browser went away; aclosing ends the read
        self.finish()


@web.stream_request_body
class FileUploadHandler(FilesHandler):
    """A raw streamed upload (PUT), how much of an interrupted one is kept (GET),
    and cancelling one (DELETE).

    ``PUT ?path=…&upload=ID&offset=N`` writes the body from byte N of the
    upload's temporary file (0 starts over; without ``upload`` a new id is
    made and answered); at the end of the body the upload is checked
    (``sha256`` in the query, if given) and renamed into place. With
    ``final=0`` it stays pending, to be continued with another PUT.
    """

    upload: Upload | None = None

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        path = self.query_path()
        files = self.files(name, write=True)
        upload_id = self.get_query_argument("upload", None)
        if upload_id is not None:
            offset = await files.upload_offset(path, upload_id)
            self.reply({**wire_path(path), "upload": upload_id, "offset": offset})
            return
        pending = await files.pending_uploads(path)
        self.reply(
            {
                **wire_path(path),
                "upload": pending[0][0] if pending else None,
                "offset": pending[0][1] if pending else 0,
                "uploads": [
                    {"upload": upload, "offset": kept, "mtime": mtime}
                    for upload, kept, mtime in pending
                ],
            }
        )

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        path = self.query_path()
        upload_id = self.get_query_argument("upload", None)
        if not upload_id:
            raise web.HTTPError(400, reason="Name the upload to cancel with 'upload'")
        removed = await self.files(name, write=True).discard_upload(path, upload_id)
        self.reply({**wire_path(path), "upload": upload_id, "discarded": removed})

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "PUT":
            return
        # The body arrives before put() runs, so auth and authorization are
        # checked here, before one byte is written to the instance.
        if not self.current_user:
            raise web.HTTPError(403)
        allowed = self.authorizer.is_authorized(
            self, self.current_user, "write", self.auth_resource
        )
        if hasattr(allowed, "__await__"):
            allowed = await allowed
        if not allowed:
            raise web.HTTPError(403)
        self.request.connection.set_max_body_size(MAX_UPLOAD)
        _read_big_pieces(self.request.connection)
        name = self.path_kwargs["name"]
        offset = _whole(self.get_query_argument("offset", "0"), "offset")
        self.upload = await self.files(name, write=True).upload(
            self.query_path(),
            offset=offset,
            upload_id=self.get_query_argument("upload", None),
        )

    async def data_received(self, chunk: bytes) -> None:
        if self.upload is not None:
            await self.upload.write(chunk)

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        assert self.upload is not None
        upload, self.upload = self.upload, None
        try:
            if self.get_query_argument("final", "1") == "0":
                await upload.pause()
                self.reply(
                    {
                        **wire_path(upload.path),
                        "upload": upload.id,
                        "offset": upload.offset,
                    }
                )
                return
            summary = await upload.commit(
                sha256=self.get_query_argument("sha256", None),
                mode=_mode(self.get_query_argument("mode", None)),
                verify=_flag(self.get_query_argument("verify", None)),
            )
        finally:
            await upload.close()
        self.reply(summary, status=201)

    def on_connection_close(self) -> None:
        # The client went away mid-body: keep what was written, for a resume.
        upload, self.upload = self.upload, None
        if upload is not None:
            self._close_task = _spawn(upload.close())
        super().on_connection_close()


class FileChunkHandler(FilesHandler):
    """JupyterLab-style chunked upload: base64 chunks 1, 2, … and -1 for the last.

    Chunk 1 starts a new temporary file and answers its ``upload`` id;
    later chunks append to the upload they name (or, without ``upload``,
    to the newest pending upload to the path); -1 appends, checks and
    renames into place. A file sent in one piece goes to ``content`` instead.
    """

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.body()
        path = self.body_path(body)
        chunk = body.get("chunk")
        if isinstance(chunk, bool) or not isinstance(chunk, int):
            raise web.HTTPError(
                400, reason="'chunk' must be 1, 2, … or -1 for the last"
            )
        upload_id = body.get("upload")
        if not isinstance(upload_id, (str, type(None))):
            raise web.HTTPError(400, reason="'upload' must be the id chunk 1 answered")
        data = _b64(body.get("content"))
        files = self.files(name, write=True)
        if chunk == 1:
            upload = await files.upload(path, upload_id=upload_id)
        else:
            if upload_id is None:
                pending = await files.pending_uploads(path)
                upload_id = pending[0][0] if pending else None
            offset = await files.upload_offset(path, upload_id) if upload_id else 0
            if not offset:
                raise RemotePathError(
                    f"Cannot continue the upload to {show(path)}: no upload to it "
                    "is in progress (cancelled, finished or never started); send "
                    "chunk 1 first",
                    path=show(path),
                    reason="no_upload",
                )
            upload = await files.upload(path, offset=offset, upload_id=upload_id)
        try:
            await upload.write(data)
            if chunk == -1:
                sha256 = body.get("sha256")
                summary = await upload.commit(
                    sha256=sha256 if isinstance(sha256, str) else None,
                    mode=_mode(body.get("mode")),
                )
                self.reply(summary, status=201)
                return
            await upload.pause()
        finally:
            await upload.close()
        self.reply({**wire_path(path), "upload": upload.id, "offset": upload.offset})


class FileContentHandler(FilesHandler):
    """A whole file as text or base64, for editors; saved back atomically."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        files = self.files(name)
        path = self.query_path()
        entry = await files.stat(path)
        if entry.size > MAX_TEXT:
            raise RemotePathError(
                f"{show(path)} is {entry.size} bytes, too big to open in an editor: "
                "download it instead",
                path=show(path),
                reason="too_big",
            )
        chunks = files.download(path, size=entry.size)
        data = b"".join([chunk async for chunk in chunks])
        self.reply({**entry.to_dict(), **_content(data)})

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        body = self.body()
        path = self.body_path(body)
        content = body.get("content")
        if not isinstance(content, str):
            raise web.HTTPError(400, reason="'content' must be a string")
        data = _b64(content) if body.get("format") == "base64" else content.encode()
        files = self.files(name, write=True)
        expected = body.get("expect_sha256")
        if isinstance(expected, str):
            await _check_unchanged(files, path, expected)
        await files.write_bytes(path, data)
        entry = await files.stat(path)
        self.reply({**entry.to_dict(), **_content(data, with_content=False)})


async def _check_unchanged(files: RemoteFiles, path: bytes, expected: str) -> None:
    digest = hashlib.sha256()
    with contextlib.suppress(RemotePathError):
        async for data in files.read(path):
            digest.update(data)
    if digest.hexdigest() != expected:
        raise ChecksumMismatch(
            f"{show(path)} changed on the instance since it was opened: reload it, "
            "or save it under another name",
            path=show(path),
            reason="changed",
        )


def content_disposition(name: bytes, inline: bool = False) -> str:
    """Return a Content-Disposition that names *name* right in every browser.

    An ASCII fallback ``filename`` (unsafe characters, quotes and newlines
    replaced) for old clients, and ``filename*`` with the UTF-8 name
    percent-encoded (RFC 6266 and RFC 5987) for everyone else.
    """
    text = name.decode(errors="replace")
    fallback = "".join(c if c in _SAFE else "_" for c in text) or "download"
    encoded = urllib.parse.quote(text.encode(), safe="")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Return (start, length) for a single byte range, "unsatisfiable", or None."""
    if not header:
        return None
    found = _RANGE.match(header.strip())
    if found is None:
        return None  # several ranges or another unit: send the whole file
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:
        length = min(int(last), size)
        return (size - length, length) if length else "unsatisfiable"
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end - start + 1


def _path(text: str | None, b64: str | None) -> bytes:
    try:
        return path_from_wire(text, b64)
    except RemotePathError as exc:
        raise web.HTTPError(400, reason=exc.message) from None


def _whole(value: str, name: str) -> int:
    if not value.isdigit():
        raise web.HTTPError(400, reason=f"'{name}' must be a whole number")
    return int(value)


def _mode(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise web.HTTPError(400, reason="'mode' must be octal such as 644") from None


def _read_big_pieces(connection: object) -> None:
    """Let one upload's connection read its body in `BODY_PIECE` pieces.

    tornado reads a streamed body 64 KiB at a time: a receive call, a copy
    and a `data_received` per piece. Bigger pieces cut that per-byte cost
    of a long upload. The parameters object is shared by every connection
    of the server, so this connection gets its own copy.
    """
    if isinstance(connection, HTTP1Connection):
        connection.params = copy.copy(connection.params)
        connection.params.chunk_size = BODY_PIECE
        connection.stream.read_chunk_size = BODY_PIECE


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value in ("1", "true")


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise web.HTTPError(400, reason="'content' must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise web.HTTPError(400, reason="'content' is not valid base64") from None


def _content(data: bytes, *, with_content: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest()}
    if not with_content:
        return result
    try:
        result.update(content=data.decode(), format="text")
    except UnicodeDecodeError:
        result.update(content=base64.b64encode(data).decode(), format="base64")
    return result


def _json(value: Any) -> str:
    return json.dumps(value)


def _http_date(mtime: float) -> str:
    return formatdate(mtime, usegmt=True)


async def _chain(
    first: FileEntry | None, rest: AsyncIterator[FileEntry]
) -> AsyncIterator[FileEntry]:
    if first is None:
        return
    yield first
    async for entry in rest:
        yield entry


def _spawn(coro: Any) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coro)


def route_table(api: str, name: str) -> list[tuple[str, type[FilesHandler]]]:
    """Return the file routes under ``{api}/instances/{name}/files``."""
    base = f"{api}/instances/{name}/files"
    return [
        (f"{base}/stat", FileStatHandler),
        (f"{base}/list", FileListHandler),
        (f"{base}/(?P<op>mkdir|rename|delete|chmod|copy)", FileOpHandler),
        (f"{base}/download", FileDownloadHandler),
        (f"{base}/upload", FileUploadHandler),
        (f"{base}/chunk", FileChunkHandler),
        (f"{base}/content", FileContentHandler),
    ]
