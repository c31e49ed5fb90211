"""Terminal session recordings in asciicast v2, the asciinema format.

A recording is a header line (version 2, width, height, timestamp) and one
JSON array per event: ``[seconds, "o", text]`` for output and
``[seconds, "r", "COLSxROWS"]`` for a resize. Keystrokes are not recorded:
they would hold any password typed at a prompt that does not echo.
Files are created with mode 0600, one folder per principal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .errors import WorkbenchError
from .hostkeys import principal_file

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"^[0-9a-f]{32}$")


class RecordingNotFound(WorkbenchError):
    """No recording with that id belongs to the principal."""

    code = "not_found"


class Recorder:
    """Write one terminal session's output as an asciicast v2 file.

    Parameters
    ----------
    path
        The file to create (it must not exist).
    cols, rows
        The terminal size at the start.
    title
        Shown by players; names the instance and login user.
    """

    def __init__(self, path: Path, *, cols: int, rows: int, title: str) -> None:
        self.path = path
        self._start = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._stream = os.fdopen(fd, "w", encoding="utf-8")
        header = {
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": int(time.time()),
            "title": title,
        }
        self._write(header)

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def output(self, text: str) -> None:
        """Record terminal output."""
        self._event("o", text)

    def resize(self, cols: int, rows: int) -> None:
        """Record a change of terminal size."""
        self._event("r", f"{cols}x{rows}")

    def close(self) -> None:
        """Finish the file."""
        if not self._stream.closed:
            self._stream.close()

    def _event(self, kind: str, data: str) -> None:
        if self._stream.closed:
            return
        self._write([round(time.monotonic() - self._start, 6), kind, data])

    def _write(self, item: Any) -> None:
        # Flushed per event so a crash loses at most the event in flight;
        # small local appends, like the audit log.
        self._stream.write(json.dumps(item, ensure_ascii=False) + "\n")
        self._stream.flush()


class Recordings:
    """The recordings folder: one sub-folder per principal.

    Parameters
    ----------
    root
        Where recordings live, e.g. ``<data dir>/recordings``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def start(
        self, principal: str, session_id: str, *, cols: int, rows: int, title: str
    ) -> Recorder:
        """Create the recording of a new session."""
        path = principal_file(self.root, principal) / f"{session_id}.cast"
        # mkdir(parents=True) would give the root the default 0755, and its
        # listing names every user who has recordings.
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        log.info("Recording terminal %s to %s", session_id, path)
        return Recorder(path, cols=cols, rows=rows, title=title)

    def list(self, principal: str) -> list[dict[str, Any]]:
        """Return the principal's recordings, newest first."""
        folder = principal_file(self.root, principal)
        if not folder.is_dir():
            return []
        found = []
        for path in folder.glob("*.cast"):
            header = _header(path)
            found.append(
                {
                    "id": path.stem,
                    "size": path.stat().st_size,
                    "timestamp": header.get("timestamp"),
                    "title": header.get("title"),
                }
            )
        return sorted(found, key=lambda r: r["timestamp"] or 0, reverse=True)

    def path(self, principal: str, recording_id: str) -> Path:
        """Return the file of one of the principal's recordings.

        Raises
        ------
        RecordingNotFound
            When the id is malformed or names no recording of the principal.
        """
        path = principal_file(self.root, principal) / f"{recording_id}.cast"
        if not _ID_RE.match(recording_id) or not path.is_file():
            raise RecordingNotFound(
                f"No recording {recording_id}: list the recordings to see their ids"
            )
        return path


def _header(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as stream:
            header = json.loads(stream.readline())
    except (OSError, ValueError):
        return {}
    return header if isinstance(header, dict) else {}


def read_cast(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """Parse an asciicast v2 file into its header and events.

    Raises
    ------
    ValueError
        When the file is not asciicast v2.
    """
    return parse_cast(path.read_text(encoding="utf-8"), where=str(path))


def parse_cast(
    text: str, *, where: str = "recording"
) -> tuple[dict[str, Any], list[list[Any]]]:
    """Parse asciicast v2 text into its header and events.

    Raises
    ------
    ValueError
        When the text is not asciicast v2.
    """
    # Split on newlines only: U+2028 and friends stay raw inside JSON strings.
    lines = text.split("\n")
    header = json.loads(lines[0]) if lines else None
    if not isinstance(header, dict) or header.get("version") != 2:
        raise ValueError(f"{where} is not an asciicast v2 recording")
    events = [json.loads(line) for line in lines[1:] if line.strip()]
    for event in events:
        if (
            not isinstance(event, list)
            or len(event) != 3
            or not isinstance(event[0], (int, float))
            or event[1] not in ("o", "i", "r", "m")
            or not isinstance(event[2], str)
        ):
            raise ValueError(f"{where}: malformed event {event!r}")
    return header, events


@dataclass
class Recording:
    """A terminal recording, to read or to replay in a notebook or a terminal."""

    header: dict[str, Any]
    events: list[list[Any]]

    @classmethod
    def from_text(cls, text: str) -> Recording:
        """Parse asciicast v2 text."""
        header, events = parse_cast(text)
        return cls(header, events)

    @property
    def output(self) -> str:
        """Everything the terminal showed, escape sequences included."""
        return "".join(e[2] for e in self.events if e[1] == "o")

    @property
    def duration(self) -> float:
        return float(self.events[-1][0]) if self.events else 0.0

    def play(
        self, *, speed: float = 1.0, max_idle: float = 1.0, out: TextIO | None = None
    ) -> None:
        """Write the output again at its recorded pace (blocks while playing).

        Parameters
        ----------
        speed
            2.0 plays twice as fast.
        max_idle
            Pauses longer than this many seconds are shortened to it.
        out
            Where to write; default: standard output (a notebook cell's output).
        """
        stream = out or sys.stdout
        last = 0.0
        for at, kind, data in self.events:
            time.sleep(min(max(at - last, 0.0), max_idle) / speed)
            last = at
            if kind == "o":
                stream.write(data)
                stream.flush()
