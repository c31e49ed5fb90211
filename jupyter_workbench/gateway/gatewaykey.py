"""The gateway's own SSH key pair, the analogue of a service-linked role.

An administrator creates it (on first use) and authorizes instances: the
gateway logs in once with a password the administrator gives, and puts
its public key in that user's ``~/.ssh/authorized_keys``. Afterwards users
whom the access policies allow can log in to those instances with the
gateway key, without holding a credential of their own.

The private key lives in one file with mode 0600 in the Jupyter data
directory. Rotating it writes a new key; authorizing an instance again
replaces the old public key there (lines carrying `COMMENT`), so the old
key stops working on every instance that is re-authorized.
"""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path

import asyncssh

from .errors import WorkbenchError

log = logging.getLogger(__name__)

COMMENT = "jupyter-workbench-gateway"
ALGORITHM = "ssh-ed25519"

#: Run by the login shell of the authorized user: replace our old key lines,
#: keep everything else, and write through a temporary file so an
#: interrupted run leaves the old authorized_keys in place.
_INSTALL = """umask 077
mkdir -p ~/.ssh || exit 1
f=~/.ssh/authorized_keys
touch "$f" || exit 1
{{ grep -v ' {comment}$' "$f" || true; printf '%s\\n' {line}; }} > "$f.workbench" &&
  mv "$f.workbench" "$f"
"""


class GatewayKeyMissing(WorkbenchError):
    """The gateway has no key yet: an administrator must create it."""

    code = "gateway_key_missing"


class GatewayKey:
    """The gateway key file.

    Parameters
    ----------
    path
        The private key file (OpenSSH format, mode 0600).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.is_file()

    def private_key(self) -> asyncssh.SSHKey:
        """Load the private key.

        Raises
        ------
        GatewayKeyMissing
            When no key has been created.
        """
        try:
            return asyncssh.read_private_key(self.path)
        except FileNotFoundError:
            raise GatewayKeyMissing(
                "The gateway has no key yet: an administrator must create it "
                "(POST workbench/api/v1/gateway-key)"
            ) from None

    def public_line(self) -> str:
        """Return the authorized_keys line of the key."""
        algorithm, blob = self.private_key().export_public_key().decode().split()[:2]
        return f"{algorithm} {blob} {COMMENT}"

    def fingerprint(self) -> str | None:
        """Return the SHA256 fingerprint, or None without a key."""
        if not self.exists():
            return None
        return str(self.private_key().get_fingerprint("sha256"))

    def create(self) -> str:
        """Create the key if there is none; return its fingerprint."""
        if not self.exists():
            self._write_new()
            log.info("Created the gateway key %s", self.fingerprint())
        return self.fingerprint() or ""

    def rotate(self) -> str:
        """Replace the key with a new one; return the new fingerprint."""
        old = self.fingerprint()
        self._write_new()
        new = self.fingerprint() or ""
        log.info("Rotated the gateway key from %s to %s", old, new)
        return new

    def install_command(self) -> str:
        """Return the shell command that installs the public key."""
        return _INSTALL.format(comment=COMMENT, line=shlex.quote(self.public_line()))

    def _write_new(self) -> None:
        key = asyncssh.generate_private_key(ALGORITHM, comment=COMMENT)
        data = key.export_private_key("openssh")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
