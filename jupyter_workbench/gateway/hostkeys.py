"""Per-principal known_hosts: first-use confirmation and refusal of changed keys.

Each principal has an OpenSSH-format known_hosts file of its own under the
gateway's data directory. A host is written ``host`` on port 22 and
``[host]:port`` elsewhere, as OpenSSH does, so the file can be read (or
seeded) with the usual tools. Host keys are public: writing them to disk
is safe, and is what makes a changed key detectable after a restart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import asyncssh

from .errors import HostKeyChanged, HostKeyUnknown

log = logging.getLogger(__name__)

#: Parsed files by path: (file text, host pattern -> "alg blob" lines).
#: A batch run connects to hundreds of hosts; splitting and parsing the
#: whole file for each of them made the run quadratic in its hosts.
_INDEX: dict[Path, tuple[str, dict[str, list[str]]]] = {}


def host_pattern(host: str, port: int) -> str:
    """Return how known_hosts names *host* on *port*."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    """Return the ``SHA256:…`` fingerprint OpenSSH shows for *key*."""
    return key.get_fingerprint("sha256")


class KnownHosts:
    """The trusted host keys of one principal, backed by a file.

    Parameters
    ----------
    path
        The known_hosts file; created (mode 0600) on the first trusted key.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def trusted(self, host: str, port: int) -> list[asyncssh.SSHKey]:
        """Return the keys trusted for *host* on *port*."""
        pattern = host_pattern(host, port)
        keys = []
        for entry in self._index().get(pattern, []):
            try:
                keys.append(asyncssh.import_public_key(entry))
            except (asyncssh.KeyImportError, ValueError):
                log.warning(
                    "Skipping an unreadable key for %s in %s", pattern, self.path
                )
        return keys

    def add(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        """Trust *key* for *host* on *port* from now on."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
        line = f"{host_pattern(host, port)} {algorithm} {blob}"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as stream:
            stream.write(line + "\n")
        log.info(
            "Trusted host key %s for %s", fingerprint(key), host_pattern(host, port)
        )

    def remove(self, host: str, port: int) -> int:
        """Forget every key trusted for *host* on *port*, as ``ssh-keygen -R``
        does; return how many lines were removed."""
        pattern = host_pattern(host, port)
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return 0
        kept = [
            line
            for line in lines
            if not line.split() or pattern not in line.split()[0].split(",")
        ]
        if len(kept) == len(lines):
            return 0
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write("".join(line + "\n" for line in kept))
        os.replace(temporary, self.path)
        log.info("Forgot %d host keys for %s", len(lines) - len(kept), pattern)
        return len(lines) - len(kept)

    def check(self, host: str, port: int, presented: asyncssh.SSHKey) -> None:
        """Raise the right error for a key the SSH handshake did not trust.

        Raises
        ------
        HostKeyChanged
            When other keys are trusted for this host: the key changed.
        HostKeyUnknown
            When no key is trusted for this host yet.
        """
        known = self.trusted(host, port)
        pattern = host_pattern(host, port)
        new = fingerprint(presented)
        if known:
            old = [fingerprint(key) for key in known]
            raise HostKeyChanged(
                f"The host key of {pattern} has changed: it was {', '.join(old)} and is "
                f"now {new}. This can mean someone is intercepting the connection, or the "
                "instance was rebuilt. The connection was refused; if the change is "
                "expected, forget the old key (Forget Host Key… in JupyterLab, or "
                "DELETE on the instance's hostkey route) and log in again",
                host=host,
                port=port,
                known_fingerprints=old,
                fingerprint=new,
                key_type=presented.get_algorithm(),
            )
        raise HostKeyUnknown(
            f"The authenticity of {pattern} cannot be established: its "
            f"{presented.get_algorithm()} key fingerprint is {new}. Confirm it "
            "matches the instance's key before trusting it",
            host=host,
            port=port,
            fingerprint=new,
            key_type=presented.get_algorithm(),
        )

    def _index(self) -> dict[str, list[str]]:
        """Return the file's keys by host pattern, parsed again when it changed.

        The file is read every time (it is small, and edits by hand must
        count at once), but parsed only when its text differs.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            _INDEX.pop(self.path, None)
            return {}
        cached = _INDEX.get(self.path)
        if cached is not None and cached[0] == text:
            return cached[1]
        index: dict[str, list[str]] = {}
        for line in _content_lines(text):
            fields = line.split()
            if len(fields) < 3 or fields[0].startswith("@"):
                continue
            for name in dict.fromkeys(fields[0].split(",")):
                index.setdefault(name, []).append(f"{fields[1]} {fields[2]}")
        _INDEX[self.path] = (text, index)
        return index


def _content_lines(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]


def principal_file(root: Path, principal: str) -> Path:
    """Return the known_hosts path of *principal* under *root*.

    The name is made safe for a file name and suffixed with a short hash,
    so two names that sanitise alike still get separate files.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", principal)[:64] or "_"
    digest = hashlib.sha256(principal.encode()).hexdigest()[:12]
    return root / f"{safe}-{digest}"
