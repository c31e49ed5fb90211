"""System management of Linux instances: users, logon history and services.

`SystemManager` is the entry point (``Gateway.system(principal, name)``);
`RemoteShell` runs the commands over the principal's pooled login, as root
directly or through sudo; `parsers` holds the pure parsers of the tools'
output and `commands` the checked, quoted scripts.
"""

from .errors import (
    SudoDenied,
    SudoRequired,
    SystemCommandFailed,
    SystemInputError,
    ToolMissing,
)
from .logons import LogonFilter
from .manager import CHANGE_ACTION, READ_ACTION, SystemManager
from .models import (
    CurrentSession,
    LogonRecord,
    ServiceInfo,
    ServiceStatus,
    SystemFacts,
    UserInfo,
)
from .shell import CommandResult, RemoteShell

__all__ = [
    "CHANGE_ACTION",
    "READ_ACTION",
    "CommandResult",
    "CurrentSession",
    "LogonFilter",
    "LogonRecord",
    "RemoteShell",
    "ServiceInfo",
    "ServiceStatus",
    "SudoDenied",
    "SudoRequired",
    "SystemCommandFailed",
    "SystemFacts",
    "SystemInputError",
    "SystemManager",
    "ToolMissing",
    "UserInfo",
]
