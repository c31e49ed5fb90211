"""Check that the wheel ships the labextension and enables the server extension."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_workbench._version import __version__

ROOT = Path(__file__).resolve().parents[1]
NPM_PACKAGE = ROOT / "labextension" / "package.json"
LABEXTENSION = "share/jupyter/labextensions/jupyter-workbench"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/jupyter_workbench.json"


def npm_to_pep440(version: str) -> str:
    """Spell an npm version (1.0.0-alpha.1) the way Python does (1.0.0a1)."""
    spelled = {"alpha": "a", "beta": "b", "rc": "rc"}
    match = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-(alpha|beta|rc)\.(\d+))?", version)
    assert match, f"Unexpected npm version {version!r}"
    release, stage, number = match.groups()
    return release + (f"{spelled[stage]}{number}" if stage else "")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """Build the wheel once for this module.

    Without build isolation when the build backend is already installed,
    which is the case in the test environment; the labextension is built by
    the hook only when it is missing.
    """
    outdir = tmp_path_factory.mktemp("dist")
    backend_installed = all(
        importlib.util.find_spec(name)
        for name in ("hatchling", "hatch_jupyter_builder")
    )
    command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir)]
    if backend_installed:
        command.append("--no-isolation")

    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)

    (path,) = outdir.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def data_files(wheel: zipfile.ZipFile) -> dict[str, str]:
    """Map the paths of the wheel's data files to their archive names."""
    prefix = f"jupyter_workbench-{__version__}.data/data/"
    return {
        name.removeprefix(prefix): name
        for name in wheel.namelist()
        if name.startswith(prefix)
    }


def test_npm_version_equals_python_version() -> None:
    npm_version = json.loads(NPM_PACKAGE.read_text())["version"]

    assert npm_to_pep440(npm_version) == __version__


def test_wheel_ships_the_prebuilt_labextension(wheel: zipfile.ZipFile) -> None:
    files = data_files(wheel)

    package = json.loads(wheel.read(files[f"{LABEXTENSION}/package.json"]))
    install = json.loads(wheel.read(files[f"{LABEXTENSION}/install.json"]))
    static = [name for name in files if name.startswith(f"{LABEXTENSION}/static/")]

    assert package["name"] == "jupyter-workbench"
    assert npm_to_pep440(package["version"]) == __version__
    assert f"{LABEXTENSION}/{package['jupyterlab']['_build']['load']}" in files
    assert f"{LABEXTENSION}/static/style.js" in static
    assert install == {
        "packageManager": "python",
        "packageName": "jupyter-workbench",
        "uninstallInstructions": (
            "Use your Python package manager (pip, conda, etc.) to uninstall "
            "the package jupyter-workbench"
        ),
    }


def test_wheel_enables_the_server_extension(wheel: zipfile.ZipFile) -> None:
    files = data_files(wheel)

    config = json.loads(wheel.read(files[SERVER_CONFIG]))

    assert config == {"ServerApp": {"jpserver_extensions": {"jupyter_workbench": True}}}


def test_wheel_holds_one_copy_of_the_labextension(wheel: zipfile.ZipFile) -> None:
    inside_package = [
        name
        for name in wheel.namelist()
        if name.startswith("jupyter_workbench/labextension/")
    ]

    assert inside_package == []


def test_wheel_ships_the_remote_desktop_page(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())

    for page in ("rdp.html", "rdp.js", "rdp.css", "guacamole-common.js"):
        assert f"jupyter_workbench/static/{page}" in names, page
    library = wheel.read("jupyter_workbench/static/guacamole-common.js")
    assert b"export default Guacamole" in library


def test_wheel_ships_the_terminal_widget_bundle(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())

    for name in ("terminal-widget.js", "terminal-widget.css"):
        assert f"jupyter_workbench/static/{name}" in names, name
    bundle = wheel.read("jupyter_workbench/static/terminal-widget.js").decode()
    # One ES module with xterm.js inside: it imports nothing at run time.
    assert "export {" in bundle and "default" in bundle
    assert not re.search(r"^\s*import\s", bundle, re.MULTILINE)
    assert b".xterm" in wheel.read("jupyter_workbench/static/terminal-widget.css")
