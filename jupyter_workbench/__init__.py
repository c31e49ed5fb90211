"""Terminals, files and fleet commands for remote instances, inside Jupyter."""

from __future__ import annotations

from typing import Any

from ._version import __version__


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import WorkbenchApp

    return [{"module": "jupyter_workbench", "app": WorkbenchApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-workbench"}]


__all__ = ["__version__"]
