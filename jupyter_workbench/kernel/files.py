"""``wb.files("web-1")``: remote files from a notebook, as plain Python objects.

Paths are ``str`` as Python's `os` module has them: bytes that are not
UTF-8 are kept as surrogate escapes (`os.fsdecode`), so a name listed by
`list` can be passed back unchanged. Both backends stream: the in-process
gateway reads and writes over SFTP directly, the REST backend streams the
``files/download`` and ``files/upload`` routes (docs/api.md).
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import os
import posixpath
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, fields
from fnmatch import fnmatch
from html import escape
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

from tornado.httpclient import HTTPClientError, HTTPRequest

from ..gateway.errors import ChecksumMismatch, WorkbenchError
from ..gateway.files import CHUNK, path_from_wire, wire_path
from .backends import _ERRORS, Backend, LocalBackend, RestBackend, _error_from

T = TypeVar("T")
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)
PathLike = str | bytes | os.PathLike[str]


@dataclass(frozen=True)
class FileInfo:
    """One remote entry: ``type`` is file, directory, symlink or other."""

    name: str
    path: str
    type: str
    size: int = 0
    mode: int = 0
    permissions: str = ""
    mtime: float = 0.0
    owner: str | None = None
    group: str | None = None
    target: str | None = None
    target_type: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileInfo:
        raw = dict(data)
        for key in ("name", "path", "target"):
            if key in raw and raw[key] is not None:
                raw[key] = os.fsdecode(path_from_wire(raw[key], raw.get(f"{key}_b64")))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"


class FileList(list[FileInfo]):
    """Entries of a folder; a table in notebooks."""

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame([vars(e) for e in self])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{escape(e.permissions)}</td><td>{escape(e.owner or '')}</td>"
            f"<td>{e.size}</td><td>{escape(e.name)}"
            f"{' → ' + escape(e.target) if e.target else ''}</td></tr>"
            for e in self
        )
        head = "<tr><th>mode</th><th>owner</th><th>size</th><th>name</th></tr>"
        return f"<table>{head}{rows}</table>"


class _Transport(Protocol):
    async def call(self, op: str, body: dict[str, Any]) -> Any: ...
    async def stat(self, path: bytes) -> dict[str, Any]: ...
    async def list(self, path: bytes) -> list[dict[str, Any]]: ...
    async def read(self, path: bytes, sink: Callable[[bytes], None]) -> None: ...
    async def write(
        self, path: bytes, chunks: AsyncIterator[bytes], sha256: str
    ) -> dict[str, Any]: ...


class AsyncRemoteFiles:
    """The coroutine face of one instance's files (``wb.aio.files(name)``)."""

    def __init__(
        self,
        name: str,
        transport: _Transport,
        on_loop: Callable[[Coroutine[Any, Any, Any]], Awaitable[Any]],
    ) -> None:
        self.name = name
        self._transport = transport
        self._on_loop = on_loop

    def __repr__(self) -> str:
        return f"<files on {self.name}>"

    async def stat(self, path: PathLike) -> FileInfo:
        """Return what *path* is (a link itself, not its target)."""
        data = await self._on_loop(self._transport.stat(_raw(path)))
        return FileInfo.from_dict(data)

    async def list(self, path: PathLike = ".") -> FileList:
        """Return the entries of the folder *path*."""
        data = await self._on_loop(self._transport.list(_raw(path)))
        return FileList(FileInfo.from_dict(d) for d in data)

    async def read(self, path: PathLike) -> bytes:
        """Return the bytes of a (small enough to hold) remote file."""
        parts: list[bytes] = []
        await self._on_loop(self._transport.read(_raw(path), parts.append))
        return b"".join(parts)

    async def read_text(self, path: PathLike, encoding: str = "utf-8") -> str:
        return (await self.read(path)).decode(encoding)

    async def write(self, path: PathLike, data: bytes | str) -> FileInfo:
        """Replace the remote file with *data*, atomically."""
        blob = data.encode() if isinstance(data, str) else data

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(blob), CHUNK):
                yield blob[start : start + CHUNK]

        sha256 = hashlib.sha256(blob).hexdigest()
        await self._on_loop(self._transport.write(_raw(path), chunks(), sha256))
        return await self.stat(path)

    async def upload(
        self, local: PathLike, remote: PathLike, *, progress: Progress | None = None
    ) -> FileInfo:
        """Upload the local file *local* to *remote* (a file path, or a folder
        that exists, to keep the name); checked with SHA-256 end to end."""
        source = Path(os.fsdecode(local))
        target = _raw(remote)
        try:
            if (await self.stat(target)).is_dir:
                target = posixpath.join(target, os.fsencode(source.name))
        except WorkbenchError:
            pass
        # Local disk work runs in threads: this may be the kernel's own loop.
        sha256 = await asyncio.to_thread(_sha256_file, source)
        total = (await asyncio.to_thread(source.stat)).st_size

        async def chunks() -> AsyncIterator[bytes]:
            done = 0
            handle = await asyncio.to_thread(source.open, "rb")
            with handle:
                while data := await asyncio.to_thread(handle.read, CHUNK):
                    done += len(data)
                    yield data
                    if progress:
                        progress(done, total)

        await self._on_loop(self._transport.write(target, chunks(), sha256))
        return await self.stat(target)

    async def download(
        self, remote: PathLike, local: PathLike, *, progress: Progress | None = None
    ) -> Path:
        """Download a file (or a folder, recursively) to *local*.

        Into an existing local folder the remote name is kept. The file is
        written under a temporary name and renamed when complete.
        """
        entry = await self.stat(remote)
        target = Path(os.fsdecode(local))
        if await asyncio.to_thread(target.is_dir):
            target = target / entry.name
        if entry.is_dir:
            target.mkdir(exist_ok=True)
            for child in await self.list(remote):
                await self.download(child.path, target / child.name, progress=progress)
            return target
        partial = target.with_name(f".{target.name}.part")
        done = 0
        with partial.open("wb") as handle:

            def sink(data: bytes) -> None:
                nonlocal done
                handle.write(data)
                done += len(data)
                if progress:
                    progress(done, entry.size)

            await self._on_loop(self._transport.read(_raw(remote), sink))
        partial.replace(target)
        return target

    async def mkdir(self, path: PathLike, *, parents: bool = False) -> FileInfo:
        return await self._op("mkdir", path, parents=parents)

    async def rename(
        self, path: PathLike, to: PathLike, *, overwrite: bool = False
    ) -> FileInfo:
        return await self._op("rename", path, **_wire(to, "to"), overwrite=overwrite)

    async def remove(self, path: PathLike, *, recursive: bool = False) -> None:
        await self._op("delete", path, recursive=recursive)

    async def chmod(self, path: PathLike, mode: int) -> FileInfo:
        return await self._op("chmod", path, mode=mode)

    async def copy(
        self, path: PathLike, to: PathLike, *, instance: str | None = None
    ) -> FileInfo:
        """Copy a file or folder to *to* on *instance* (this one by default),
        streamed through the gateway."""
        target = {**_wire(to, "to"), "to_instance": instance or self.name}
        return await self._op("copy", path, **target)

    async def _op(self, op: str, path: PathLike, **body: Any) -> FileInfo:
        answer = await self._on_loop(
            self._transport.call(op, {**_wire(path, "path"), **body})
        )
        return FileInfo.from_dict(answer) if answer and "type" in answer else answer


class Runner(Protocol):
    """Runs a coroutine on the client's loop and returns its result."""

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T: ...


class RemoteFiles:
    """Files on one instance, from a notebook: every method blocks until done.

    ``wb.files("web-1").list("/var/log")``; the coroutine twins are on
    ``.aio`` (the same as ``wb.aio.files("web-1")``).
    """

    def __init__(self, aio: AsyncRemoteFiles, call: Runner) -> None:
        self.aio = aio
        self._call = call

    def __repr__(self) -> str:
        return f"<files on {self.aio.name}>"

    def stat(self, path: PathLike) -> FileInfo:
        """Return what *path* is (a link itself, not its target)."""
        return self._call(self.aio.stat(path))

    def list(self, path: PathLike = ".") -> FileList:
        """Return the entries of the folder *path*."""
        return self._call(self.aio.list(path))

    def read(self, path: PathLike) -> bytes:
        """Return the bytes of a remote file."""
        return self._call(self.aio.read(path))

    def read_text(self, path: PathLike, encoding: str = "utf-8") -> str:
        return self._call(self.aio.read_text(path, encoding))

    def write(self, path: PathLike, data: bytes | str) -> FileInfo:
        """Replace the remote file with *data*, atomically."""
        return self._call(self.aio.write(path, data))

    def upload(
        self, local: PathLike, remote: PathLike, *, progress: Progress | None = None
    ) -> FileInfo:
        """Upload *local* to *remote*; see `AsyncRemoteFiles.upload`."""
        return self._call(self.aio.upload(local, remote, progress=progress))

    def download(
        self, remote: PathLike, local: PathLike, *, progress: Progress | None = None
    ) -> Path:
        """Download *remote* to *local*; see `AsyncRemoteFiles.download`."""
        return self._call(self.aio.download(remote, local, progress=progress))

    def mkdir(self, path: PathLike, *, parents: bool = False) -> FileInfo:
        return self._call(self.aio.mkdir(path, parents=parents))

    def rename(
        self, path: PathLike, to: PathLike, *, overwrite: bool = False
    ) -> FileInfo:
        return self._call(self.aio.rename(path, to, overwrite=overwrite))

    def remove(self, path: PathLike, *, recursive: bool = False) -> None:
        self._call(self.aio.remove(path, recursive=recursive))

    def chmod(self, path: PathLike, mode: int) -> FileInfo:
        return self._call(self.aio.chmod(path, mode))

    def copy(
        self, path: PathLike, to: PathLike, *, instance: str | None = None
    ) -> FileInfo:
        """Copy a file or folder to *to* on *instance* (this one by default)."""
        return self._call(self.aio.copy(path, to, instance=instance))

    def browser(self, path: str = ".", *, download_dir: str = ".") -> Any:
        """Return an ipywidgets file browser of this instance (needs ipywidgets)."""
        from .file_widget import FileBrowser

        return FileBrowser(self, path, download_dir=download_dir)


def transport_for(backend: Backend, name: str) -> _Transport:
    """Return how to reach *name*'s files through *backend*."""
    if isinstance(backend, LocalBackend):
        return _LocalTransport(backend, name)
    if isinstance(backend, RestBackend):
        return _RestTransport(backend, name)
    raise TypeError(f"No file transport for {type(backend).__name__}")


class _LocalTransport:
    """The in-process gateway's `RemoteFiles`, called directly."""

    def __init__(self, backend: LocalBackend, name: str) -> None:
        self._gateway = backend.gateway
        self._principal = backend.principal
        self._name = name

    def _files(self, write: bool = False) -> Any:
        return self._gateway.files(self._principal, self._name, write=write)

    async def call(self, op: str, body: dict[str, Any]) -> Any:
        files = self._files(write=op != "copy")
        path = path_from_wire(body.get("path"), body.get("path_b64"))
        if op == "copy":
            target = self._gateway.files(
                self._principal, body["to_instance"], write=True
            )
            path_to = path_from_wire(body.get("to"), body.get("to_b64"))
            await files.copy_to(path, target, path_to)
            return (await target.stat(path_to)).to_dict()
        if op == "mkdir":
            await files.mkdir(path, parents=body["parents"])
        elif op == "rename":
            path_to = path_from_wire(body.get("to"), body.get("to_b64"))
            await files.rename(path, path_to, overwrite=body["overwrite"])
            path = path_to
        elif op == "delete":
            await files.remove(path, recursive=body["recursive"])
            return None
        elif op == "chmod":
            await files.chmod(path, body["mode"])
        return (await files.stat(path)).to_dict()

    async def stat(self, path: bytes) -> dict[str, Any]:
        entry = await self._files().stat(path)
        data: dict[str, Any] = entry.to_dict()
        return data

    async def list(self, path: bytes) -> list[dict[str, Any]]:
        return [entry.to_dict() async for entry in self._files().list(path)]

    async def read(self, path: bytes, sink: Callable[[bytes], None]) -> None:
        async for data in self._files().download(path):
            sink(data)

    async def write(
        self, path: bytes, chunks: AsyncIterator[bytes], sha256: str
    ) -> dict[str, Any]:
        upload = await self._files(write=True).upload(path)
        try:
            async for data in chunks:
                await upload.write(data)
            result: dict[str, Any] = await upload.commit(sha256=sha256)
            return result
        finally:
            await upload.close()


class _RestTransport:
    """The server's ``files/*`` routes, streamed both ways."""

    def __init__(self, backend: RestBackend, name: str) -> None:
        self._backend = backend
        self._base = f"instances/{quote(name, safe='')}/files/"

    async def call(self, op: str, body: dict[str, Any]) -> Any:
        return await self._backend._call("POST", self._base + op, body)

    async def stat(self, path: bytes) -> dict[str, Any]:
        result: dict[str, Any] = await self._backend._call(
            "GET", self._base + "stat?" + _query(path)
        )
        return result

    async def list(self, path: bytes) -> list[dict[str, Any]]:
        data = await self._backend._call("GET", self._base + "list?" + _query(path))
        return list(data["entries"])

    async def read(self, path: bytes, sink: Callable[[bytes], None]) -> None:
        # With a streaming callback tornado hands error bodies to it too:
        # only a 2xx body is file content.
        status = [0]
        error = bytearray()

        def on_header(line: str) -> None:
            if line.startswith("HTTP/"):
                status[0] = int(line.split()[1])

        def on_chunk(data: bytes) -> None:
            if 200 <= status[0] < 300:
                sink(data)
            else:
                error.extend(data[: 64 * 1024 - len(error)])

        try:
            await self._fetch(
                "GET",
                "download?" + _query(path),
                header_callback=on_header,
                streaming_callback=on_chunk,
            )
        except WorkbenchError:
            if error:
                try:
                    data = json.loads(bytes(error))
                    kind = _ERRORS.get(data["error"], WorkbenchError)
                    raise kind(data["message"], **data.get("details", {})) from None
                except (ValueError, KeyError, TypeError):
                    pass
            raise

    async def write(
        self, path: bytes, chunks: AsyncIterator[bytes], sha256: str
    ) -> dict[str, Any]:
        async def producer(write: Callable[[bytes], Awaitable[None]]) -> None:
            async for data in chunks:
                await write(data)

        query = _query(path) + "&" + urlencode({"sha256": sha256})
        response = await self._fetch("PUT", "upload?" + query, body_producer=producer)
        result: dict[str, Any] = json.loads(response.body)
        if result.get("sha256") != sha256:
            raise ChecksumMismatch(
                f"The gateway stored a different file than was sent to {path!r}",
                path=os.fsdecode(path),
            )
        return result

    async def _fetch(self, method: str, route: str, **kwargs: Any) -> Any:
        backend = self._backend
        request = HTTPRequest(
            backend.url + self._base + route,
            method=method,
            headers={"Authorization": backend._auth},
            request_timeout=24 * 3600,
            **kwargs,
        )
        try:
            return await backend._http.fetch(request)
        except HTTPClientError as exc:
            raise _error_from(exc) from None


def _raw(path: PathLike) -> bytes:
    return os.fsencode(path)


def _wire(path: PathLike, key: str) -> dict[str, str]:
    return wire_path(_raw(path), key)


def _query(path: bytes) -> str:
    return urlencode(wire_path(path))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while data := handle.read(CHUNK):
            digest.update(data)
    return digest.hexdigest()


__all__ = ["AsyncRemoteFiles", "FileInfo", "FileList", "RemoteFiles"]


def upload_many(
    wb: Any, sources: list[str], destination: str, *, out: Any = None
) -> list[tuple[str, FileInfo]]:
    """Upload local files (globs allowed) to ``HOSTS:FOLDER`` on several hosts.

    HOSTS is a comma-separated list of names or shell patterns (``web-*``).
    Returns (host, remote entry) pairs; prints a progress line per file.
    """
    hosts, folder = _split_target(wb, destination)
    files = sorted({f for pattern in sources for f in _local_glob(pattern)})
    if not files:
        raise WorkbenchError(f"No local file matches {' '.join(sources)}")
    done = []
    for host in hosts:
        remote = wb.files(host)
        for local in files:
            bar = _ProgressLine(f"{host}: {local}", out)
            done.append((host, remote.upload(local, folder, progress=bar)))
            bar.end()
    return done


def download_many(
    wb: Any, source: str, destination: str, *, out: Any = None
) -> list[Path]:
    """Download ``HOSTS:PATH_OR_GLOB`` into the local folder *destination*.

    With several hosts each host gets its own subfolder.
    """
    hosts, pattern = _split_target(wb, source)
    folder = Path(destination)
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for host in hosts:
        remote = wb.files(host)
        parent, glob = posixpath.split(pattern)
        if any(c in glob for c in "*?["):
            names = [
                e.path for e in remote.list(parent or ".") if fnmatch(e.name, glob)
            ]
        else:
            names = [pattern]
        into = folder / host if len(hosts) > 1 else folder
        into.mkdir(exist_ok=True)
        for name in names:
            bar = _ProgressLine(f"{host}: {name}", out)
            saved.append(remote.download(name, into, progress=bar))
            bar.end()
    return saved


class _ProgressLine:
    """A one-line text progress bar, redrawn with carriage returns."""

    def __init__(self, label: str, out: Any) -> None:
        self.label = label
        self.out = out or sys.stdout
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 if not total else done * 100 // total
        if percent == self.shown:
            return
        self.shown = percent
        filled = percent // 5
        bar = "#" * filled + "." * (20 - filled)
        print(
            f"\r{self.label} [{bar}] {percent:3d}% {_size(done)}", end="", file=self.out
        )

    def end(self) -> None:
        if self.shown < 0:
            self(0, 0)
        print(file=self.out)


def _split_target(wb: Any, spec: str) -> tuple[list[str], str]:
    hosts_part, sep, path = spec.partition(":")
    if not sep or not path:
        raise WorkbenchError(f"Write the remote side as HOSTS:PATH, not {spec!r}")
    names = [i.name for i in wb.instances()]
    hosts: list[str] = []
    for pattern in hosts_part.split(","):
        matched = [n for n in names if fnmatch(n, pattern)]
        if not matched:
            raise WorkbenchError(
                f"No instance matches {pattern!r}: see %workbench hosts"
            )
        hosts += [n for n in matched if n not in hosts]
    return hosts, path


def _local_glob(pattern: str) -> list[str]:
    found = glob.glob(os.path.expanduser(pattern))
    return [f for f in found if os.path.isfile(f)]


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    return f"{count} B"
