"""The errors the gateway raises, named by what the caller can do about them.

::

    WorkbenchError
     ├── InstanceNotFound        no such instance in the inventory
     ├── InventoryError          a malformed inventory file or entry
     ├── NetworkRefused          the network rules forbid the address
     ├── Unreachable             DNS, TCP refused, timed out, reset
     ├── HostKeyError
     │    ├── HostKeyUnknown     first contact: confirm the fingerprint
     │    └── HostKeyChanged     the key differs from the trusted one
     ├── AuthenticationFailed    the instance refused the credentials
     ├── NotLoggedIn             log in before opening a terminal
     ├── TerminalNotFound        no such terminal for this principal
     ├── PolicyInvalid           a malformed access policy document or file
     ├── PolicyDenied            the access policies deny the action
     ├── AdminRequired           only an administrator may do this
     ├── RemotePathError         a remote file operation failed (details: path, reason)
     │    ├── RemoteNotFound     no such file or folder
     │    ├── RemotePermissionDenied
     │    ├── RemoteExists       the target exists, or a folder is not empty
     │    ├── RemoteNoSpace      disk full or quota exceeded
     │    └── ChecksumMismatch   an upload arrived different, or the file changed
     └── SSHError                the session failed after connecting

Every error has a ``code`` (a stable string for clients), a ``message``
that says what happened and what to do, and ``details`` (plain data, never
a secret).
"""

from __future__ import annotations

from typing import Any


class WorkbenchError(Exception):
    """Base class of every error the gateway raises on purpose."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Return the error as JSON-ready data for clients."""
        return {"error": self.code, "message": self.message, "details": self.details}


class InstanceNotFound(WorkbenchError):
    """The instance name is not in the inventory."""

    code = "not_found"


class InventoryError(WorkbenchError):
    """An inventory source is malformed; the message names file, line, field."""

    code = "inventory_error"


class NetworkRefused(WorkbenchError):
    """The network rules do not allow the resolved address and port."""

    code = "network_refused"


class Unreachable(WorkbenchError):
    """The instance could not be reached; ``details['reason']`` says how."""

    code = "unreachable"


class HostKeyError(WorkbenchError):
    """The instance's host key is not trusted."""

    code = "host_key"


class HostKeyUnknown(HostKeyError):
    """First contact: the user must confirm the fingerprint once."""

    code = "host_key_unknown"


class HostKeyChanged(HostKeyError):
    """The host key differs from the one trusted before: refused."""

    code = "host_key_changed"


class AuthenticationFailed(WorkbenchError):
    """The instance refused every offered credential."""

    code = "auth_failed"


class NotLoggedIn(WorkbenchError):
    """An operation needs a login on the instance first."""

    code = "not_logged_in"


class TerminalNotFound(WorkbenchError):
    """No terminal with that id belongs to the principal."""

    code = "not_found"


class SSHError(WorkbenchError):
    """The SSH session failed after the connection was made."""

    code = "ssh_error"


class RemotePathError(WorkbenchError):
    """A remote file operation failed; ``details`` has ``path`` and ``reason``."""

    code = "remote_path"


class RemoteNotFound(RemotePathError):
    """The remote file or folder does not exist."""

    code = "remote_not_found"


class RemotePermissionDenied(RemotePathError):
    """The login user may not read or change the remote path."""

    code = "remote_permission_denied"


class RemoteExists(RemotePathError):
    """The target exists already, or a folder to remove is not empty."""

    code = "remote_exists"


class RemoteNoSpace(RemotePathError):
    """The remote disk is full or the user's quota is used up."""

    code = "remote_no_space"


class ChecksumMismatch(RemotePathError):
    """An upload's SHA-256 differs from the one the client or the remote computed."""

    code = "checksum_mismatch"


class PolicyInvalid(WorkbenchError):
    """A policy document or file is malformed; the message names statement and field."""

    code = "policy_invalid"


class PolicyDenied(WorkbenchError):
    """The access policies deny the action; the message names the statement."""

    code = "policy_denied"


class AdminRequired(WorkbenchError):
    """Only a workbench administrator may do this."""

    code = "admin_required"
