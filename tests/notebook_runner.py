"""Execute a notebook with nbclient in a kernel that a real Jupyter server started.

nbclient normally starts its own kernel. Here the server starts it (through
its sessions API, as JupyterLab does when a notebook is opened), so the
kernel has the server's environment and the notebook's ``Workbench()``
finds that server; nbclient attaches to the kernel's connection file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from labserver import ARTIFACTS, LabServer
from nbclient import NotebookClient

#: Seconds one cell may take (a loaded two-core machine is slow).
CELL_TIMEOUT = 300


class AttachedKernelManager(AsyncKernelManager):
    """A kernel the Jupyter server owns: nbclient attaches, never starts or stops it.

    ``is_alive`` answers True: the server, not this manager, watches the
    process; a dead kernel shows as a cell timeout.
    """

    @property
    def has_kernel(self) -> bool:
        return True

    async def _async_is_alive(self) -> bool:
        return True

    is_alive = _async_is_alive


def run_notebook(
    server: LabServer, source: Path, *, folder: str = "notebooks"
) -> nbformat.NotebookNode:
    """Run *source* top to bottom in a kernel of *server*; return it executed.

    The notebook is copied to *folder* under the server's root, so the
    kernel's working folder is there, as when a user opens it. The
    executed copy is kept in ``test-artifacts/``.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        When a cell fails, with the cell and its traceback.
    """
    root = server.directory / "root" / folder
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, root / source.name)
    notebook = nbformat.read(source, as_version=4)
    status, session = server.call(
        "POST",
        "api/sessions",
        {
            "path": f"{folder}/{source.name}",
            "name": source.name,
            "type": "notebook",
            "kernel": {"name": "python3"},
        },
    )
    assert status == 201, session
    manager = AttachedKernelManager()
    connection = server.directory / "runtime" / f"kernel-{session['kernel']['id']}.json"
    manager.load_connection_info(json.loads(connection.read_text()))
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        allow_errors=False,
    )
    try:
        client.execute()
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        server.call("DELETE", f"api/sessions/{session['id']}")
        ARTIFACTS.mkdir(exist_ok=True)
        nbformat.write(
            notebook, ARTIFACTS / f"executed-{server.directory.name}-{source.name}"
        )
    return notebook


def outputs_text(notebook: nbformat.NotebookNode) -> list[str]:
    """Return each code cell's text output (streams and plain text), joined."""
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
        texts.append("".join(parts))
    return texts
