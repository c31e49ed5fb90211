"""Remote files over SFTP: listings, streamed transfers, atomic resumable uploads.

Paths are ``bytes`` throughout, so names that are not valid UTF-8 survive
every operation unchanged. `wire_path` and `path_from_wire` turn them into
JSON and back: a ``path`` string when the bytes are UTF-8, and a
``path_b64`` (base64 of the raw bytes) beside a readable ``path`` when not.

Each upload goes to its own temporary name in the target's folder
(``.<name>.<upload id>.wb-upload``) and is renamed over the target only
once every byte is written and the checksum holds, so the old file stays
whole until then, and two uploads to one path never share a file. The
temporary file survives a dropped connection: asking for
`RemoteFiles.upload_offset` and opening the upload again at that offset
(with its id) resumes it.

Transfers keep several SFTP requests in flight (`READ_AHEAD` reads,
`WRITE_WINDOW` bytes of writes), one request per block of the server's
largest size, so throughput does not wait on round trips.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import contextlib
import hashlib
import logging
import posixpath
import re
import secrets
import shlex
import stat
import tarfile
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncssh

from .errors import (
    ChecksumMismatch,
    RemoteExists,
    RemoteNoSpace,
    RemoteNotFound,
    RemotePathError,
    RemotePermissionDenied,
    SSHError,
    WorkbenchError,
)

if TYPE_CHECKING:
    from .pool import ConnectionPool, Lease

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # a piece of a local stream; free space below it is a full disk
MAX_BLOCK = 1 << 20  # largest SFTP read or write request sent
SAFE_BLOCK = 16 << 10  # the request size for servers that state no limits
READ_AHEAD = 16  # read requests kept in flight while streaming a download
WRITE_WINDOW = 8 << 20  # bytes of write requests in flight during an upload
UPLOAD_SUFFIX = b".wb-upload"
_UPLOAD_ID = re.compile(rb"[A-Za-z0-9_-]{1,64}")
TAR_BLOCK = 512
SFTP_IDLE = 60.0  # seconds an unused SFTP session keeps its channel
LISTING_IDLE = 60.0  # seconds a paged listing stays open for its next page
LISTINGS = 8  # paged listings held open per login at once


@dataclass
class FileEntry:
    """One remote file, folder, link or other node, as lstat sees it."""

    path: bytes
    kind: str  # "file", "directory", "symlink" or "other"
    size: int
    mode: int
    mtime: float
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    target: bytes | None = None  # a symlink's target, as stored
    target_kind: str | None = None  # what the link points at, or "broken"

    @property
    def name(self) -> bytes:
        return posixpath.basename(self.path.rstrip(b"/")) or self.path

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data; non-UTF-8 names carry ``*_b64``."""
        data: dict[str, Any] = {
            **wire_path(self.name, "name"),
            **wire_path(self.path, "path"),
            "type": self.kind,
            "size": self.size,
            "mode": stat.S_IMODE(self.mode),
            "permissions": stat.filemode(self.mode),
            "mtime": self.mtime,
            "uid": self.uid,
            "gid": self.gid,
            "owner": self.owner,
            "group": self.group,
        }
        if self.target is not None:
            data.update(wire_path(self.target, "target"))
            data["target_type"] = self.target_kind
        return data


def wire_path(raw: bytes, key: str = "path") -> dict[str, str]:
    """Return ``{key: text}``, plus ``{key}_b64`` when *raw* is not UTF-8."""
    try:
        return {key: raw.decode()}
    except UnicodeDecodeError:
        return {
            key: raw.decode(errors="replace"),
            f"{key}_b64": base64.b64encode(raw).decode(),
        }


def path_from_wire(text: str | None, b64: str | None = None) -> bytes:
    """Return the raw path a client named, preferring the ``*_b64`` form.

    Raises
    ------
    RemotePathError
        When neither form is given, or the base64 is malformed.
    """
    if b64:
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise RemotePathError(
                "'path_b64' is not valid base64: send the raw path bytes in base64",
                path=b64,
            ) from None
    elif text:
        raw = text.encode()
    else:
        raise RemotePathError("Name a remote path with 'path' or 'path_b64'", path="")
    if b"\0" in raw:
        raise RemotePathError("A remote path cannot contain a NUL byte", path=text)
    return raw


def show(path: bytes) -> str:
    """Return *path* readable for messages; undecodable bytes as escapes."""
    return path.decode(errors="backslashreplace")


@contextlib.contextmanager
def remote_errors(path: bytes, action: str) -> Iterator[None]:
    """Turn SFTP errors about *path* into `RemotePathError` subclasses."""
    try:
        yield
    except asyncssh.SFTPError as exc:
        raise translate(exc, path, action) from None


def translate(exc: asyncssh.SFTPError, path: bytes, action: str) -> RemotePathError:
    """Return the `RemotePathError` that explains *exc* while doing *action*."""
    where = show(path)
    reason = exc.reason or "failure"
    kinds: dict[int, tuple[type[RemotePathError], str]] = {
        asyncssh.FX_NO_SUCH_FILE: (
            RemoteNotFound,
            f"Cannot {action} {where}: no such file or folder; check the path",
        ),
        asyncssh.FX_PERMISSION_DENIED: (
            RemotePermissionDenied,
            f"Cannot {action} {where}: permission denied; the login user needs "
            "access to it (check its owner and mode)",
        ),
        asyncssh.FX_FILE_ALREADY_EXISTS: (
            RemoteExists,
            f"Cannot {action} {where}: it exists already",
        ),
        asyncssh.FX_DIR_NOT_EMPTY: (
            RemoteExists,
            f"Cannot {action} {where}: the folder is not empty; remove it "
            "recursively to delete its contents too",
        ),
        asyncssh.FX_NO_SPACE_ON_FILESYSTEM: (
            RemoteNoSpace,
            f"Cannot {action} {where}: the remote disk is full; free some space",
        ),
        asyncssh.FX_QUOTA_EXCEEDED: (
            RemoteNoSpace,
            f"Cannot {action} {where}: the user's disk quota is exceeded",
        ),
    }
    kind, message = kinds.get(
        exc.code,
        (RemotePathError, f"Cannot {action} {where}: the server said {reason!r}"),
    )
    return kind(message, path=where, reason=reason)


class RemoteFiles:
    """SFTP operations of one principal on one instance.

    One SFTP session per login is opened on demand from the pool and given
    back after ``idle`` seconds without use.

    Parameters
    ----------
    pool
        Where the principal's connections are.
    principal, instance
        Whose login, on which instance.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        principal: str,
        instance: str,
        *,
        idle: float = SFTP_IDLE,
    ) -> None:
        self.pool = pool
        self.principal = principal
        self.instance = instance
        self.idle = idle
        self._sftp: asyncssh.SFTPClient | None = None
        self._lease: Lease | None = None
        self._opening = asyncio.Lock()
        self._busy = 0
        self._timer: asyncio.TimerHandle | None = None
        # Hash state of uploads in progress, so chunked uploads are not
        # re-read on every chunk: temp path -> (bytes written, sha256).
        self._uploads: dict[bytes, tuple[int, Any]] = {}
        # Temporary files of uploads that stopped without pause() (a dropped
        # client): resuming them re-reads the result on the instance.
        self._interrupted: set[bytes] = set()
        # Folder listings held open between pages: cursor token -> listing.
        self._listings: dict[str, _Listing] = {}
        self._closing: set[asyncio.Future[None]] = set()

    # -- the session ------------------------------------------------------

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[asyncssh.SFTPClient]:
        """Hold the SFTP session for the duration of the block."""
        sftp = await self._open()
        self._busy += 1
        try:
            yield sftp
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError):
            self._drop()
            raise SSHError(
                f"The connection to {self.instance} was lost during a file "
                "operation: try again",
                instance=self.instance,
            ) from None
        finally:
            self._busy -= 1
            self._arm_timer()

    async def _open(self) -> asyncssh.SFTPClient:
        async with self._opening:
            if self._sftp is not None and self._lease and self._lease.pooled.alive:
                return self._sftp
            self._drop()
            sftp, lease = await self.pool.open_session(
                self.principal, self.instance, lambda conn: conn.start_sftp_client()
            )
            self._sftp, self._lease = sftp, lease
            log.debug("Opened SFTP on %s for %s", self.instance, self.principal)
            return sftp

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.idle, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self._busy == 0:
            self._drop()

    def _drop(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
            self._sftp = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    async def close(self) -> None:
        """Close the SFTP session and give its channel back."""
        if self._timer is not None:
            self._timer.cancel()
        for token in list(self._listings):
            self._expire(token)
        await asyncio.gather(*self._closing, return_exceptions=True)
        sftp = self._sftp
        self._drop()
        if sftp is not None:
            with contextlib.suppress(Exception):
                await sftp.wait_closed()

    # -- metadata ---------------------------------------------------------

    async def stat(self, path: bytes, *, follow: bool = False) -> FileEntry:
        """Return what *path* is; a link itself unless *follow*.

        Raises
        ------
        RemotePathError
            `RemoteNotFound` or `RemotePermissionDenied` with the path.
        """
        async with self.session() as sftp:
            with remote_errors(path, "read"):
                attrs = await (sftp.stat(path) if follow else sftp.lstat(path))
            return await self._entry(sftp, path, attrs)

    async def list(self, path: bytes) -> AsyncGenerator[FileEntry, None]:
        """Yield the entries of the folder *path* as the server sends them.

        The server sends names in batches; each batch is a round trip that
        gives the event loop back, so huge folders never stall it.
        ``.`` and ``..`` are left out.
        """
        async with self.session() as sftp:
            with remote_errors(path, "list"):
                async for name in sftp.scandir(path):
                    filename = _as_bytes(name.filename)
                    if filename in (b".", b".."):
                        continue
                    child = posixpath.join(path, filename)
                    entry = await self._entry(sftp, child, name.attrs)
                    entry.owner, entry.group = _owner_group(name.longname)
                    yield entry

    async def list_page(
        self, path: bytes, limit: int, cursor: str | None = None
    ) -> tuple[builtins.list[FileEntry], str | None]:
        """Return up to *limit* entries of the folder *path* and the next cursor.

        The listing stays open on the instance between pages (for
        `LISTING_IDLE` seconds, at most `LISTINGS` per login), so paging
        through a huge folder reads it once, not once per page. A cursor
        is ``"<entries before>.<token>"``; when its listing is gone (idle,
        or the gateway restarted) the folder is read again and that many
        entries are skipped. The last page's cursor is None.

        Raises
        ------
        RemotePathError
            For a malformed cursor, or as `list` does.
        """
        skip, listing = 0, None
        if cursor:
            number, _, token = cursor.partition(".")
            if not number.isdigit():
                raise RemotePathError(
                    f"Cannot continue listing {show(path)}: the cursor {cursor!r} "
                    "is not one this server gave; list again without it",
                    path=show(path),
                    reason="cursor",
                )
            skip = int(number)
            held = self._listings.pop(token, None)
            if held is not None and held.path == path and held.position == skip:
                held.timer.cancel()
                listing = held
            elif held is not None:
                await held.close()
        if listing is None:
            listing = _Listing(path, self.list(path))
            if skip:
                log.debug("Listing %s again to skip %d entries", show(path), skip)
            try:
                while listing.position < skip and await listing.next() is not None:
                    pass
            except BaseException:
                await listing.close()
                raise
        page: builtins.list[FileEntry] = []
        try:
            while len(page) < limit:
                entry = await listing.next()
                if entry is None:
                    await listing.close()
                    return page, None
                page.append(entry)
            if await listing.peek() is None:
                await listing.close()
                return page, None
        except BaseException:
            await listing.close()
            raise
        return page, self._hold(listing)

    def _hold(self, listing: _Listing) -> str:
        while len(self._listings) >= LISTINGS:
            oldest = next(iter(self._listings))
            self._expire(oldest)
        token = secrets.token_urlsafe(9)
        loop = asyncio.get_running_loop()
        listing.timer = loop.call_later(LISTING_IDLE, self._expire, token)
        self._listings[token] = listing
        return f"{listing.position}.{token}"

    def _expire(self, token: str) -> None:
        listing = self._listings.pop(token, None)
        if listing is not None:
            listing.timer.cancel()
            self._closing.add(asyncio.ensure_future(listing.close()))
            self._closing = {task for task in self._closing if not task.done()}

    async def _entry(
        self, sftp: asyncssh.SFTPClient, path: bytes, attrs: asyncssh.SFTPAttrs
    ) -> FileEntry:
        mode = attrs.permissions or 0
        entry = FileEntry(
            path=path,
            kind=_kind(mode),
            size=attrs.size or 0,
            mode=mode,
            mtime=float(attrs.mtime or 0),
            uid=attrs.uid,
            gid=attrs.gid,
        )
        if entry.kind == "symlink":
            # Read the link and stat its target once; never walk into it.
            try:
                entry.target = _as_bytes(await sftp.readlink(path))
                entry.target_kind = _kind((await sftp.stat(path)).permissions or 0)
            except asyncssh.SFTPError:
                entry.target_kind = "broken"
        return entry

    async def mkdir(self, path: bytes, *, parents: bool = False) -> None:
        """Create the folder *path* (and its parents when asked)."""
        async with self.session() as sftp:
            if parents:
                with remote_errors(path, "create"):
                    await sftp.makedirs(path, exist_ok=True)
                return
            with remote_errors(path, "create"):
                if await sftp.exists(path):
                    raise RemoteExists(
                        f"Cannot create {show(path)}: it exists already",
                        path=show(path),
                        reason="exists",
                    )
                await sftp.mkdir(path)

    async def rename(
        self, path: bytes, target: bytes, *, overwrite: bool = False
    ) -> None:
        """Move *path* to *target*; replace an existing file only when asked."""
        async with self.session() as sftp:
            with remote_errors(target, "move to"):
                exists = await sftp.exists(target) or await sftp.islink(target)
            if exists and not overwrite:
                raise RemoteExists(
                    f"Cannot move {show(path)} to {show(target)}: the target exists; "
                    "pass overwrite to replace it",
                    path=show(target),
                    reason="exists",
                )
            with remote_errors(path, "move"):
                if overwrite:
                    await sftp.posix_rename(path, target)
                else:
                    await sftp.rename(path, target)

    async def remove(self, path: bytes, *, recursive: bool = False) -> None:
        """Delete a file, link or empty folder; a full folder only if *recursive*.

        Links are removed, never followed.
        """
        async with self.session() as sftp:
            with remote_errors(path, "delete"):
                attrs = await sftp.lstat(path)
            if _kind(attrs.permissions or 0) != "directory":
                with remote_errors(path, "delete"):
                    await sftp.remove(path)
                return
            if recursive:
                # Listed first: deleting while the server pages through the
                # folder would make it skip entries.
                children = [entry async for entry in self.list(path)]
                for entry in children:
                    await self.remove(entry.path, recursive=True)
            try:
                await sftp.rmdir(path)
            except asyncssh.SFTPError as exc:
                if exc.code == asyncssh.FX_FAILURE and not recursive:
                    raise RemoteExists(
                        f"Cannot delete {show(path)}: the folder is not empty; "
                        "delete it recursively to remove its contents too",
                        path=show(path),
                        reason="not_empty",
                    ) from None
                raise translate(exc, path, "delete") from None

    async def chmod(self, path: bytes, mode: int) -> None:
        """Set the permission bits of *path* (``0o644`` and the like)."""
        async with self.session() as sftp:
            with remote_errors(path, "change the mode of"):
                await sftp.chmod(path, mode & 0o7777)

    async def symlink(self, target: bytes, path: bytes) -> None:
        """Create the link *path* pointing at *target*."""
        async with self.session() as sftp:
            with remote_errors(path, "create the link"):
                await sftp.symlink(target, path)

    # -- reading ----------------------------------------------------------

    async def read(
        self, path: bytes, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes of *path* from *offset*, at most *length* of them.

        Up to `READ_AHEAD` block-sized SFTP reads are kept in flight, across
        the pieces yielded, so the server never waits for the caller between
        pieces; pieces come in file order. Memory stays at `READ_AHEAD`
        blocks whatever the file size, and the caller's pace (an HTTP client
        that reads slowly) is the pace of the reads.
        """
        async with self.session() as sftp:
            with remote_errors(path, "read"):
                # block_size=0: each read below is one SFTP request, answered
                # without asyncssh's reassembly copies.
                handle = await sftp.open(path, "rb", encoding=None, block_size=0)
            async with handle:
                block = _block(sftp.limits.max_read_len)
                end = None if length is None else offset + length
                async for data in _read_ahead(handle, path, offset, end, block):
                    yield data

    async def archive(self, path: bytes) -> AsyncGenerator[bytes, None]:
        """Yield a tar archive (PAX format) of the folder *path*, streamed.

        Links are stored as links. Files that cannot be read are left out
        and logged; the stream has started by then and cannot fail cleanly.
        """
        base = posixpath.dirname(path.rstrip(b"/"))
        async for block in self._tar_tree(path, base):
            yield block
        yield b"\0" * (TAR_BLOCK * 2)

    async def _tar_tree(self, path: bytes, base: bytes) -> AsyncIterator[bytes]:
        top = await self.stat(path)
        entries = [top]
        while entries:
            entry = entries.pop()
            arcname = posixpath.relpath(entry.path, base) if base else entry.path
            if entry.kind == "directory":
                yield _tar_header(entry, arcname)
                try:
                    entries.extend([e async for e in self.list(entry.path)])
                except RemotePathError as exc:
                    log.warning("Left %s out of an archive: %s", show(entry.path), exc)
            elif entry.kind == "symlink":
                yield _tar_header(entry, arcname)
            elif entry.kind == "file":
                async for block in self._tar_file(entry, arcname):
                    yield block

    async def _tar_file(self, entry: FileEntry, arcname: bytes) -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for data in self.read(entry.path, length=entry.size):
                if sent == 0:
                    yield _tar_header(entry, arcname)
                sent += len(data)
                yield data
        except RemotePathError as exc:
            if sent:
                raise
            log.warning("Left %s out of an archive: %s", show(entry.path), exc)
            return
        if sent == 0:
            yield _tar_header(entry, arcname)
        # A file that shrank while being read is padded to its header size.
        pad = entry.size - sent
        yield b"\0" * (pad + (-entry.size % TAR_BLOCK))

    # -- writing ----------------------------------------------------------

    async def pending_uploads(
        self, path: bytes
    ) -> builtins.list[tuple[str, int, float]]:
        """Return the interrupted uploads to *path*: (id, bytes kept, mtime).

        Newest first. Each upload has its own temporary file, so this reads
        the target's folder; pass the upload's id where it is known.
        """
        folder, name = posixpath.split(path)
        prefix, found = b"." + name + b".", []
        async with self.session() as sftp:
            with remote_errors(folder or b".", "list"):
                async for entry in sftp.scandir(folder or b"."):
                    filename = _as_bytes(entry.filename)
                    if not (
                        filename.startswith(prefix) and filename.endswith(UPLOAD_SUFFIX)
                    ):
                        continue
                    upload_id = filename[len(prefix) : -len(UPLOAD_SUFFIX)]
                    if _UPLOAD_ID.fullmatch(upload_id):
                        temp = posixpath.join(folder, filename)
                        kept = self._kept(temp, entry.attrs.size or 0)
                        found.append(
                            (upload_id.decode(), kept, float(entry.attrs.mtime or 0))
                        )
        return sorted(found, key=lambda item: item[2], reverse=True)

    async def upload_offset(self, path: bytes, upload_id: str | None = None) -> int:
        """Return how many bytes of an interrupted upload to *path* are kept.

        Without *upload_id*, the newest interrupted upload to *path* counts.
        """
        if upload_id is None:
            pending = await self.pending_uploads(path)
            return pending[0][1] if pending else 0
        temp = temp_path(path, upload_id)
        async with self.session() as sftp:
            try:
                size = (await sftp.stat(temp)).size or 0
            except asyncssh.SFTPError:
                return 0
        return self._kept(temp, size)

    def _kept(self, temp: bytes, size: int) -> int:
        # Writes are pipelined: the remote size can run ahead of the bytes
        # this gateway saw acknowledged in order (and has a hash for).
        known = self._uploads.get(temp)
        return min(size, known[0]) if known else size

    async def upload(
        self, path: bytes, *, offset: int = 0, upload_id: str | None = None
    ) -> Upload:
        """Start (``offset=0``) or resume an upload to *path*.

        Every upload writes its own temporary file, named by *upload_id*
        (a new random one when not given), so two uploads to one path never
        mix their bytes. Resuming without an id continues the newest
        interrupted upload to *path*.

        Raises
        ------
        RemotePathError
            When the folder is missing or not writable, the id is malformed,
            or *offset* is beyond what the earlier attempt left.
        """
        if upload_id is not None and not _UPLOAD_ID.fullmatch(upload_id.encode()):
            raise RemotePathError(
                f"Cannot upload to {show(path)}: the upload id {upload_id!r} must be "
                "1 to 64 letters, digits, '-' or '_'",
                path=show(path),
                reason="upload_id",
            )
        if upload_id is None and offset > 0:
            pending = await self.pending_uploads(path)
            upload_id = pending[0][0] if pending else new_upload_id()
        upload = Upload(self, path, upload_id or new_upload_id())
        await upload.open(offset)
        return upload

    async def discard_upload(self, path: bytes, upload_id: str) -> bool:
        """Remove the temporary file of an unfinished upload; True if there was one.

        The target itself is never touched.
        """
        temp = temp_path(path, upload_id)
        self._uploads.pop(temp, None)
        self._interrupted.discard(temp)
        async with self.session() as sftp:
            try:
                await sftp.remove(temp)
            except asyncssh.SFTPError as exc:
                if exc.code == asyncssh.FX_NO_SUCH_FILE:
                    return False
                raise translate(exc, temp, "delete") from None
        log.info("Discarded the upload %s to %s", upload_id, show(path))
        return True

    async def write_bytes(
        self, path: bytes, data: bytes, *, sha256: str | None = None
    ) -> dict[str, Any]:
        """Write *data* to *path* atomically; return the upload's summary."""
        upload = await self.upload(path)
        try:
            await upload.write(data)
            return await upload.commit(sha256=sha256)
        except BaseException:
            # The first error is the one to report, not a failed clean-up.
            with contextlib.suppress(WorkbenchError, asyncssh.Error, OSError):
                await upload.discard()
            raise
        finally:
            await upload.close()

    async def remote_sha256(self, path: bytes) -> str | None:
        """Return ``sha256sum`` of *path* run on the instance, or None if unavailable."""
        try:
            command = "sha256sum -- " + shlex.quote(path.decode())
        except UnicodeDecodeError:
            return None  # the exec command line is text; SFTP's read-back covers it
        result, lease = await self.pool.open_session(
            self.principal, self.instance, lambda conn: conn.run(command, check=False)
        )
        lease.release()
        stdout = result.stdout if isinstance(result.stdout, str) else ""
        if result.exit_status != 0 or not stdout:
            return None
        return stdout.split()[0]


class _Listing:
    """A folder listing in progress, held between pages."""

    def __init__(self, path: bytes, entries: AsyncGenerator[FileEntry, None]) -> None:
        self.path = path
        self.position = 0  # entries handed out so far
        self.timer: asyncio.TimerHandle = _NO_TIMER
        self._entries = entries
        self._peeked: FileEntry | None = None

    async def peek(self) -> FileEntry | None:
        if self._peeked is None:
            self._peeked = await anext(self._entries, None)
        return self._peeked

    async def next(self) -> FileEntry | None:
        entry = await self.peek()
        self._peeked = None
        if entry is not None:
            self.position += 1
        return entry

    async def close(self) -> None:
        await self._entries.aclose()


class _NoTimer:
    def cancel(self) -> None:
        pass


_NO_TIMER: Any = _NoTimer()


class Upload:
    """An upload to its own temporary file, renamed over the target on `commit`.

    Writes are pipelined: each block goes out as one SFTP write request as
    soon as it is full, and up to `WRITE_WINDOW` bytes wait for their
    acknowledgement at once, so receiving the next bytes overlaps with
    writing the last ones. The SHA-256 is computed on the way through.
    """

    def __init__(self, files: RemoteFiles, path: bytes, upload_id: str) -> None:
        self.files = files
        self.path = path
        self.id = upload_id
        self.temp = temp_path(path, upload_id)
        self.offset = 0  # bytes handed to the instance (acknowledged after flush)
        # Whether this upload continues one that was cut off, or whose hash
        # had to be rebuilt: then commit re-reads the file on the instance.
        self.resumed = False
        self._paused = False
        self._hash: Any = hashlib.sha256()
        self._handle: asyncssh.SFTPClientFile | None = None
        self._block = SAFE_BLOCK
        self._buffer = bytearray()
        # Writes in flight, in file order: (request, end offset, hash there, size).
        self._pending: deque[tuple[asyncio.Future[Any], int, Any, int]] = deque()
        self._in_flight = 0
        self._writing = asyncio.Lock()

    async def open(self, offset: int) -> None:
        async with self.files.session() as sftp:
            self._block = _block(sftp.limits.max_write_len)
            if offset == 0:
                with remote_errors(self.temp, "write"):
                    # block_size=0: every write below is exactly one request.
                    self._handle = await sftp.open(
                        self.temp, "wb", encoding=None, block_size=0
                    )
                self.files._uploads[self.temp] = (0, self._hash.copy())
                return
            await self._resume(sftp, offset)

    async def _resume(self, sftp: asyncssh.SFTPClient, offset: int) -> None:
        kept = await self.files.upload_offset(self.path, self.id)
        if offset > kept:
            raise RemotePathError(
                f"Cannot resume the upload to {show(self.path)} at byte {offset}: "
                f"only {kept} bytes were kept; resume from {kept}",
                path=show(self.path),
                reason="offset",
                kept=kept,
                upload=self.id,
            )
        with remote_errors(self.temp, "resume"):
            await sftp.truncate(self.temp, offset)
            self._handle = await sftp.open(
                self.temp, "r+b", encoding=None, block_size=0
            )
        known = self.files._uploads.get(self.temp)
        if known and known[0] == offset:
            self._hash = known[1].copy()
            self.resumed = self.temp in self.files._interrupted
        else:
            # The gateway restarted or the client resumes earlier: rebuild
            # the running hash from what the remote file holds.
            async for data in self.files.read(self.temp, length=offset):
                self._hash.update(data)
            self.resumed = True
        self.offset = offset

    async def write(self, data: bytes) -> None:
        """Append *data*; full blocks go out at once, up to `WRITE_WINDOW` in flight."""
        # A dropped client closes the upload while a body chunk may still be
        # in here: one caller at a time keeps the offsets right.
        async with self._writing, self.files.session() as sftp:
            self._buffer += data
            block = self._block
            if len(self._buffer) < block:
                return
            whole = len(self._buffer) - len(self._buffer) % block
            view = memoryview(self._buffer)
            try:
                for start in range(0, whole, block):
                    await self._send(sftp, bytes(view[start : start + block]))
            finally:
                view.release()
            del self._buffer[:whole]

    async def flush(self) -> None:
        """Write what is buffered and wait until the instance acknowledged it all."""
        async with self._writing, self.files.session() as sftp:
            if self._buffer and self._handle is not None:
                data, self._buffer = bytes(self._buffer), bytearray()
                await self._send(sftp, data)
            while self._pending:
                await self._settle(sftp)

    async def _send(self, sftp: asyncssh.SFTPClient, data: bytes) -> None:
        if self._handle is None:
            raise RemotePathError(
                f"The upload to {show(self.path)} is closed: start it again",
                path=show(self.path),
                reason="closed",
            )
        request = asyncio.ensure_future(self._handle.write(data, self.offset))
        self.offset += len(data)
        self._hash.update(data)
        self._pending.append((request, self.offset, self._hash.copy(), len(data)))
        self._in_flight += len(data)
        while self._pending and (
            self._in_flight > WRITE_WINDOW or self._pending[0][0].done()
        ):
            await self._settle(sftp)

    async def _settle(self, sftp: asyncssh.SFTPClient) -> None:
        """Wait for the oldest write; record how far the file is whole."""
        request, end, digest, size = self._pending[0]
        try:
            await request
        except asyncssh.SFTPError as exc:
            await self._abandon()
            raise await self._write_error(sftp, exc) from None
        except BaseException:
            await self._abandon()
            raise
        self._pending.popleft()
        self._in_flight -= size
        self.files._uploads[self.temp] = (end, digest)

    async def _abandon(self) -> None:
        pending, self._pending = self._pending, deque()
        self._in_flight = 0
        for request, *_ in pending:
            request.cancel()
        await asyncio.gather(
            *(request for request, *_ in pending), return_exceptions=True
        )

    async def _write_error(
        self, sftp: asyncssh.SFTPClient, exc: asyncssh.SFTPError
    ) -> RemotePathError:
        # OpenSSH reports ENOSPC and EDQUOT as a bare failure (SFTP v3):
        # ask statvfs whether the disk is what ran out.
        if exc.code == asyncssh.FX_FAILURE:
            with contextlib.suppress(asyncssh.SFTPError):
                vfs = await sftp.statvfs(posixpath.dirname(self.temp) or b".")
                if vfs.bavail * (vfs.frsize or vfs.bsize) < CHUNK:
                    return RemoteNoSpace(
                        f"Cannot write {show(self.path)}: the remote disk is full "
                        "or the quota is used up; free some space and resume",
                        path=show(self.path),
                        reason="no_space",
                    )
        return translate(exc, self.path, "write")

    @property
    def sha256(self) -> str:
        """The SHA-256 of everything written so far."""
        return str(self._hash.hexdigest())

    async def commit(
        self,
        *,
        sha256: str | None = None,
        mode: int | None = None,
        verify: bool | None = None,
    ) -> dict[str, Any]:
        """Check the upload, keep the old file's mode, rename into place.

        The gateway hashes the bytes as they stream through and compares
        that with the client's *sha256*. The instance's copy is checked by
        size always (a missing or doubled piece shows), and re-read with
        ``sha256sum`` on the instance when *verify* is true, or (``None``)
        when the upload resumes one that was cut off or whose running hash
        was rebuilt from the instance's copy.
        Re-reading a big file costs as much as writing it, so a plain
        upload, whose every write the SFTP server acknowledged at its offset
        over the SSH connection's integrity checks, is not re-read.

        Raises
        ------
        ChecksumMismatch
            When the client's SHA-256, the instance's ``sha256sum`` or the
            instance's file size differs from what the gateway streamed; the
            temporary file is removed and the target left as it was.
        """
        await self.flush()
        digest = self.sha256
        if self._handle is not None:
            await self._handle.fsync()
            await self._handle.close()
            self._handle = None
        if verify is None:
            verify = self.resumed
        remote = await self.files.remote_sha256(self.temp) if verify else None
        async with self.files.session() as sftp:
            with remote_errors(self.temp, "check"):
                size = (await sftp.stat(self.temp)).size
        checks = [("client", sha256, digest), ("instance", remote, digest)]
        checks.append(("instance's file size", str(size), str(self.offset)))
        for name, other, ours in checks:
            if other is not None and other.lower() != ours:
                await self.discard()
                raise ChecksumMismatch(
                    f"The upload to {show(self.path)} arrived damaged: the {name} "
                    f"{other} differs from the gateway's {ours}; upload again",
                    path=show(self.path),
                    reason="checksum",
                )
        await self._rename_into_place(mode)
        self.files._uploads.pop(self.temp, None)
        self.files._interrupted.discard(self.temp)
        self._paused = True  # finished: closing it is no interruption
        log.info("Uploaded %d bytes to %s", self.offset, show(self.path))
        return {
            **wire_path(self.path),
            "size": self.offset,
            "sha256": digest,
            "verified_remotely": remote is not None,
            "upload": self.id,
        }

    async def _rename_into_place(self, mode: int | None) -> None:
        async with self.files.session() as sftp:
            try:
                old_mode: int | None = (await sftp.stat(self.path)).permissions
            except asyncssh.SFTPError:
                old_mode = None
            keep = mode if mode is not None else old_mode
            with remote_errors(self.path, "replace"):
                if keep is not None:
                    await sftp.chmod(self.temp, keep & 0o7777)
                await sftp.posix_rename(self.temp, self.path)

    async def discard(self) -> None:
        """Remove the temporary file; the target is left as it was."""
        await self._abandon()
        self._buffer = bytearray()
        self._paused = True
        await self.close()
        await self.files.discard_upload(self.path, self.id)

    async def pause(self) -> None:
        """Write everything and close, to be continued by a later `upload` call.

        Unlike `close` after a dropped client, a paused upload resumes on
        the gateway's own running hash without a re-read on the instance:
        JupyterLab's chunked uploads pause after every chunk.
        """
        await self.flush()
        self._paused = True
        await self.close()

    async def close(self) -> None:
        """Write what is buffered and close; the temporary file stays for a resume."""
        if self._handle is not None:
            if not self._paused:
                self.files._interrupted.add(self.temp)
            with contextlib.suppress(WorkbenchError, asyncssh.Error, OSError):
                await self.flush()
        await self._abandon()
        self._buffer = bytearray()
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(asyncssh.Error, OSError):
                await handle.close()


async def copy_between(
    source: RemoteFiles, path: bytes, target: RemoteFiles, to: bytes
) -> int:
    """Copy a file or folder from one instance to another; return bytes copied.

    Data flows through the gateway in `CHUNK` pieces, never whole. Links are
    copied as links.
    """
    entry = await source.stat(path)
    if entry.kind == "symlink" and entry.target is not None:
        await target.symlink(entry.target, to)
        return 0
    if entry.kind == "directory":
        await target.mkdir(to, parents=True)
        total = 0
        async for child in source.list(path):
            total += await copy_between(
                source, child.path, target, posixpath.join(to, child.name)
            )
        return total
    upload = await target.upload(to)
    try:
        async for data in source.read(path):
            await upload.write(data)
        await upload.commit(mode=entry.mode)
    except BaseException:
        await upload.discard()
        raise
    return upload.offset


def temp_path(path: bytes, upload_id: str) -> bytes:
    """Return the temporary file the upload *upload_id* to *path* writes to."""
    folder, name = posixpath.split(path)
    if not name:
        raise RemotePathError(
            f"Cannot upload to {show(path)}: name a file, not a folder",
            path=show(path),
            reason="is_folder",
        )
    return posixpath.join(
        folder, b"." + name + b"." + upload_id.encode() + UPLOAD_SUFFIX
    )


def new_upload_id() -> str:
    """Return a fresh random upload id (12 URL-safe characters)."""
    return secrets.token_urlsafe(9)


def _block(limit: int) -> int:
    # The server's own limit (OpenSSH: 255 KiB) when it says one, capped.
    return min(limit, MAX_BLOCK) if limit > 0 else SAFE_BLOCK


async def _read_ahead(
    handle: asyncssh.SFTPClientFile,
    path: bytes,
    offset: int,
    end: int | None,
    block: int,
) -> AsyncIterator[bytes]:
    """Yield *path* from *offset* to *end* (or EOF), `READ_AHEAD` reads in flight."""
    pending: deque[tuple[int, asyncio.Future[Any]]] = deque()
    ahead = offset

    def top_up() -> None:
        nonlocal ahead
        while len(pending) < READ_AHEAD and (end is None or ahead < end):
            size = block if end is None else min(block, end - ahead)
            pending.append((size, asyncio.ensure_future(handle.read(size, ahead))))
            ahead += size

    try:
        top_up()
        while pending:
            size, request = pending.popleft()
            with remote_errors(path, "read"):
                data = _as_bytes(await request)
            offset += len(data)
            if data:
                yield data
            if len(data) == size:
                top_up()
                continue
            # End of file, or a short answer: what was asked beyond it is
            # dropped, and the rest (if any) is read one request at a time.
            for _, later in pending:
                later.cancel()
            await asyncio.gather(*(r for _, r in pending), return_exceptions=True)
            pending.clear()
            while data and (end is None or offset < end):
                want = block if end is None else min(block, end - offset)
                with remote_errors(path, "read"):
                    data = _as_bytes(await handle.read(want, offset))
                offset += len(data)
                if data:
                    yield data
    finally:
        for _, request in pending:
            request.cancel()
        await asyncio.gather(*(r for _, r in pending), return_exceptions=True)


def _as_bytes(value: bytes | str) -> bytes:
    # Paths and files are opened as bytes, so asyncssh answers in bytes.
    return value if isinstance(value, bytes) else value.encode(errors="surrogateescape")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def _owner_group(longname: Any) -> tuple[str | None, str | None]:
    # OpenSSH (SFTP v3) sends owner and group names only inside the ls -l
    # style longname: "mode links owner group size month day time name".
    if not isinstance(longname, bytes):
        return None, None
    fields = longname.split(None, 8)
    if len(fields) < 5:
        return None, None
    return fields[2].decode(errors="replace"), fields[3].decode(errors="replace")


def _tar_header(entry: FileEntry, arcname: bytes) -> bytes:
    info = tarfile.TarInfo(arcname.decode(errors="surrogateescape"))
    info.mode = stat.S_IMODE(entry.mode)
    info.mtime = int(entry.mtime) or int(time.time())
    info.uname, info.gname = entry.owner or "", entry.group or ""
    if entry.kind == "directory":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = (entry.target or b"").decode(errors="surrogateescape")
    else:
        info.size = entry.size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


__all__ = [
    "CHUNK",
    "FileEntry",
    "RemoteFiles",
    "Upload",
    "copy_between",
    "new_upload_id",
    "path_from_wire",
    "temp_path",
    "wire_path",
]
