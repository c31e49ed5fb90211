"""Terminals, files and fleet commands for remote instances, inside Jupyter."""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .gateway.errors import (
    AuthenticationFailed,
    HostKeyChanged,
    HostKeyUnknown,
    NetworkRefused,
    NotLoggedIn,
    RemotePathError,
    Unreachable,
    WorkbenchError,
)
from .kernel.client import InstanceInfo, InstanceList, Workbench
from .kernel.files import FileInfo, RemoteFiles


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import WorkbenchApp

    return [{"module": "jupyter_workbench", "app": WorkbenchApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-workbench"}]


def load_ipython_extension(ipython: Any) -> None:
    """Make ``%workbench`` available after ``%load_ext jupyter_workbench``."""
    from .kernel.magics import load_ipython_extension as load

    load(ipython)


__all__ = [
    "AuthenticationFailed",
    "FileInfo",
    "HostKeyChanged",
    "HostKeyUnknown",
    "InstanceInfo",
    "InstanceList",
    "NetworkRefused",
    "NotLoggedIn",
    "RemoteFiles",
    "RemotePathError",
    "Unreachable",
    "Workbench",
    "WorkbenchError",
    "__version__",
    "load_ipython_extension",
]
