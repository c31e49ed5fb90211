"""The errors of system management, in the gateway's `WorkbenchError` tree.

::

    WorkbenchError
     ├── SystemInputError        a bad user, group, service name or value
     ├── SudoRequired            root rights are needed: give a sudo password
     ├── SudoDenied              the login user may not use sudo (or wrong password)
     ├── ToolMissing             the instance lacks the program an action needs
     └── SystemCommandFailed     the program ran and failed; details carry its output
"""

from __future__ import annotations

from ..errors import WorkbenchError


class SystemInputError(WorkbenchError):
    """A user name, group, shell, key or service name was refused before running."""

    code = "system_input"


class SudoRequired(WorkbenchError):
    """The action needs root and sudo asks for a password that was not given."""

    code = "sudo_required"


class SudoDenied(WorkbenchError):
    """sudo refused: the password is wrong or the user has no sudo rights."""

    code = "sudo_denied"


class ToolMissing(WorkbenchError):
    """The instance has none of the programs that can do the action."""

    code = "tool_missing"


class SystemCommandFailed(WorkbenchError):
    """A system program ran and failed; ``details`` has its exit status and stderr."""

    code = "system_command_failed"


__all__ = [
    "SudoDenied",
    "SudoRequired",
    "SystemCommandFailed",
    "SystemInputError",
    "ToolMissing",
]
