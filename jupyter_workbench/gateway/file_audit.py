"""File operations that leave an audit record: `AuditedFiles`.

Every change (mkdir, rename, delete, chmod, link, upload, a cancelled
upload), every download and every copy between instances is written to the
audit log once, when it ends, with its outcome: ``ok``, ``failed`` (with the error code) or, for a
download the client stopped reading, ``incomplete``. Records carry the path
(undecodable bytes as backslash escapes), the size in bytes and the SHA-256
where the gateway saw every byte: an upload, a download of a whole file, a
copy of one file. Contents never reach the log.

A compound operation (a recursive delete, a copy of a folder) is one
record: the steps it takes inside are collected, not recorded one by one.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from .errors import WorkbenchError
from .files import RemoteFiles, Upload, copy_between, show

if TYPE_CHECKING:
    from .audit import AuditLog
    from .pool import ConnectionPool

#: While a compound operation runs, the uploads it commits (size, sha256)
#: are collected here instead of being recorded on their own.
_inside: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "workbench_file_audit_inside", default=None
)


@contextlib.contextmanager
def _collecting() -> Iterator[list[dict[str, Any]]]:
    collected: list[dict[str, Any]] = []
    token = _inside.set(collected)
    try:
        yield collected
    finally:
        _inside.reset(token)


class AuditedFiles(RemoteFiles):
    """`RemoteFiles` whose operations are written to the audit log.

    Parameters
    ----------
    pool, principal, instance
        As `RemoteFiles`.
    audit
        Where records go.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        principal: str,
        instance: str,
        *,
        audit: AuditLog,
        **options: Any,
    ) -> None:
        super().__init__(pool, principal, instance, **options)
        self.audit = audit

    def record(self, event: str, outcome: str, **fields: Any) -> None:
        """Write one record about this instance's files, unless inside a compound."""
        if _inside.get() is not None:
            return
        self.audit.record(
            event,
            principal=self.principal,
            instance=self.instance,
            outcome=outcome,
            **fields,
        )

    @contextlib.asynccontextmanager
    async def audited(self, event: str, **fields: Any) -> AsyncIterator[dict[str, Any]]:
        """Record *event* when the block ends; the block may add fields."""
        try:
            yield fields
        except WorkbenchError as exc:
            self.record(event, "failed", error=exc.code, **fields)
            raise
        self.record(event, "ok", **fields)

    # -- changes ----------------------------------------------------------

    async def mkdir(self, path: bytes, *, parents: bool = False) -> None:
        async with self.audited("file_mkdir", path=show(path), parents=parents):
            await super().mkdir(path, parents=parents)

    async def rename(
        self, path: bytes, target: bytes, *, overwrite: bool = False
    ) -> None:
        async with self.audited(
            "file_rename", path=show(path), to=show(target), overwrite=overwrite
        ):
            await super().rename(path, target, overwrite=overwrite)

    async def remove(self, path: bytes, *, recursive: bool = False) -> None:
        async with self.audited("file_delete", path=show(path), recursive=recursive):
            with _collecting():
                await super().remove(path, recursive=recursive)

    async def chmod(self, path: bytes, mode: int) -> None:
        async with self.audited("file_chmod", path=show(path), mode=f"{mode:04o}"):
            await super().chmod(path, mode)

    async def symlink(self, target: bytes, path: bytes) -> None:
        async with self.audited("file_symlink", path=show(path), target=show(target)):
            await super().symlink(target, path)

    async def upload(self, path: bytes, **options: Any) -> Upload:
        upload = await super().upload(path, **options)
        # The subclass only wraps commit and adds no state: switching the
        # class keeps RemoteFiles.upload's own choices (ids, resuming) intact.
        upload.__class__ = _AuditedUpload
        return upload

    async def discard_upload(self, path: bytes, upload_id: str) -> bool:
        """Cancel an unfinished upload (see `RemoteFiles`) and record it."""
        fields = {"path": show(path), "upload": upload_id}
        async with self.audited("file_upload_cancel", **fields) as recorded:
            removed = await super().discard_upload(path, upload_id)
            recorded["discarded"] = removed
        return removed

    # -- reading ----------------------------------------------------------

    async def download(
        self,
        path: bytes,
        *,
        offset: int = 0,
        length: int | None = None,
        size: int | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes of *path* as `read` does, and record the download.

        *size* is the file's size when the caller knows it: a download from
        byte 0 that delivers all of it is recorded with its SHA-256.
        """
        digest = hashlib.sha256() if offset == 0 else None
        sent = 0
        fields: dict[str, Any] = {"path": show(path)}
        if offset or length is not None:
            fields["range"] = [offset, None if length is None else offset + length]
        outcome = "incomplete"
        try:
            async with contextlib.aclosing(
                self.read(path, offset=offset, length=length)
            ) as chunks:
                async for data in chunks:
                    sent += len(data)
                    if digest is not None:
                        digest.update(data)
                    yield data
            outcome = "ok"
        except WorkbenchError as exc:
            outcome = "failed"
            self.record("file_download", "failed", error=exc.code, size=sent, **fields)
            raise
        finally:
            if outcome != "failed":
                whole = outcome == "ok" and (size is None or sent == size)
                checksum = digest.hexdigest() if digest and whole else None
                self.record(
                    "file_download", outcome, size=sent, sha256=checksum, **fields
                )

    async def archive(self, path: bytes) -> AsyncGenerator[bytes, None]:
        """Yield a tar archive of the folder *path*, and record the download."""
        digest, sent, outcome = hashlib.sha256(), 0, "incomplete"
        fields = {"path": show(path), "archive": "tar"}
        try:
            async with contextlib.aclosing(super().archive(path)) as blocks:
                async for data in blocks:
                    sent += len(data)
                    digest.update(data)
                    yield data
            outcome = "ok"
        except WorkbenchError as exc:
            outcome = "failed"
            self.record("file_download", "failed", error=exc.code, size=sent, **fields)
            raise
        finally:
            if outcome != "failed":
                checksum = digest.hexdigest() if outcome == "ok" else None
                self.record(
                    "file_download", outcome, size=sent, sha256=checksum, **fields
                )

    # -- between instances ------------------------------------------------

    async def copy_to(self, path: bytes, target: RemoteFiles, to: bytes) -> int:
        """Copy *path* to *to* on *target* (see `copy_between`) and record it once.

        The record names both ends, the bytes copied, the number of files
        and, for a single file, its SHA-256 as the gateway streamed it.
        """
        fields: dict[str, Any] = {
            "path": show(path),
            "to_instance": target.instance,
            "to": show(to),
        }
        try:
            with _collecting() as copied:
                size = await copy_between(self, path, target, to)
        except WorkbenchError as exc:
            self.record("file_copy", "failed", error=exc.code, **fields)
            raise
        checksum = copied[0]["sha256"] if len(copied) == 1 else None
        self.record(
            "file_copy", "ok", size=size, files=len(copied), sha256=checksum, **fields
        )
        return size


class _AuditedUpload(Upload):
    """An upload whose commit is recorded with its size and SHA-256."""

    files: AuditedFiles

    async def commit(self, **options: Any) -> dict[str, Any]:
        fields = {"path": show(self.path)}
        try:
            summary = await super().commit(**options)
        except WorkbenchError as exc:
            self.files.record(
                "file_upload",
                "failed",
                error=exc.code,
                size=self.offset,
                sha256=self.sha256,
                **fields,
            )
            raise
        collected = _inside.get()
        if collected is not None:
            collected.append(summary)
        self.files.record(
            "file_upload",
            "ok",
            size=summary["size"],
            sha256=summary["sha256"],
            verified_remotely=summary["verified_remotely"],
            **fields,
        )
        return summary


__all__ = ["AuditedFiles"]
