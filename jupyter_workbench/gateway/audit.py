"""The audit log: one JSON object per line, appended, never rewritten.

Each record has the event, the outcome, the principal, the instance, the
time (UTC, ISO 8601) and where the request came from: the client address
and, when a kernel made the call, the notebook path and cell. The server
sets the request's `Origin` in a context variable before it calls the
gateway, so gateway code records events without passing it around.

Records never carry secrets: fields whose names suggest one are dropped
before writing, and callers pass methods ("password"), not values.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Field names that are never written, whatever a caller passes.
SECRET_FIELDS = frozenset(
    {"password", "passphrase", "private_key", "secret", "token", "responses", "key"}
)


@dataclass(frozen=True)
class Origin:
    """Where a request came from: client address, notebook and cell."""

    client: str | None = None
    notebook: str | None = None
    cell: str | None = None

    def to_dict(self) -> dict[str, str]:
        """Return the known fields only."""
        data = {"client": self.client, "notebook": self.notebook, "cell": self.cell}
        return {k: v for k, v in data.items() if v}


_NOWHERE = Origin()

#: The origin of the request being served; a task started while serving it
#: (a terminal's reader) inherits it, which is what its events should show.
current_origin: contextvars.ContextVar[Origin] = contextvars.ContextVar(
    "workbench_origin"
)


class AuditLog:
    """Append audit records to a JSON lines file with mode 0600.

    Parameters
    ----------
    path
        The file; ``None`` keeps no audit log.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def record(
        self,
        event: str,
        *,
        principal: str,
        instance: str | None = None,
        outcome: str = "ok",
        **fields: Any,
    ) -> dict[str, Any]:
        """Append one record and return it.

        Parameters
        ----------
        event
            What happened: ``login``, ``denied``, ``terminal_open``, ...
        principal
            Whose action it was.
        instance
            The instance name, when the event concerns one.
        outcome
            ``ok``, ``failed``, ``denied`` or another short word.
        **fields
            Plain JSON data about the event; secret-looking names are dropped.
        """
        entry: dict[str, Any] = {
            "time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "event": event,
            "outcome": outcome,
            "user": principal,
            "instance": instance,
            **current_origin.get(_NOWHERE).to_dict(),
        }
        entry.update(
            {k: v for k, v in fields.items() if k.lower() not in SECRET_FIELDS}
        )
        if self.path is not None:
            self._append(json.dumps(entry, default=str) + "\n")
        return entry

    def events(self) -> list[dict[str, Any]]:
        """Read every record back (for tests and small logs)."""
        if self.path is None or not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]

    def _append(self, line: str) -> None:
        assert self.path is not None
        # One write() of one line on an O_APPEND descriptor: concurrent
        # writers (two servers, logrotate's copy) never interleave inside a
        # record. A small local append; it does not wait on the network.
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            log.error("Cannot write the audit log %s: %s", self.path, exc)
            return
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
                os.fchmod(fd, 0o600)
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
