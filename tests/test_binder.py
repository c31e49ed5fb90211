"""The Binder setup in ``binder/``: what can be checked without building an image.

repo2docker cannot run here (no Docker), so ``postBuild`` is not executed.
What it does is checked instead: it installs this checkout with the ``lab``
extra and appends ``binder/jupyter_server_config.py`` to the environment's
Jupyter config; a real ``jupyter lab`` reading that file from a folder on
its config path lists the demo instance, and the getting-started notebook
runs against it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer
from notebook_runner import run_notebook

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


@pytest.fixture
def binder_lab(tmp_path: Path) -> Iterator[LabServer]:
    # What postBuild does: the file lands in a folder on Jupyter's config path.
    etc = tmp_path / "etc-jupyter"
    etc.mkdir()
    shutil.copy(BINDER / "jupyter_server_config.py", etc)
    server = LabServer(
        tmp_path / "lab",
        config={"WorkbenchApp": {"data_dir": str(tmp_path / "workbench")}},
        env={"JUPYTER_CONFIG_PATH": str(etc)},
    ).start()
    yield server
    server.stop()


def test_post_build_installs_the_checkout_and_the_demo_config():
    script = BINDER / "postBuild"
    assert script.stat().st_mode & 0o111, "postBuild must be executable"
    subprocess.run(["bash", "-n", str(script)], check=True)

    lines = [
        line.strip()
        for line in script.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "set -euo pipefail"
    assert 'python -m pip install --no-cache-dir ".[lab]"' in lines
    assert (
        "config=\"$(python -c 'import sys; print(sys.prefix)')/etc/jupyter\"" in lines
    )
    assert (
        'cat binder/jupyter_server_config.py >>"$config/jupyter_server_config.py"'
        in lines
    )


def test_environment_has_node_for_the_labextension_build():
    dependencies = [
        line.strip().removeprefix("- ")
        for line in (BINDER / "environment.yml").read_text().splitlines()
        if line.strip().startswith("- ")
    ]
    assert "nodejs=20" in dependencies and "pip" in dependencies
    assert "jupyterlab>=4.2,<5" in dependencies


def test_binder_config_starts_the_demo_in_a_plain_jupyter_lab(binder_lab: LabServer):
    status, body = binder_lab.call("GET", "workbench/api/v1/instances")

    assert status == 200
    assert [i["name"] for i in body["instances"] if i["demo"]] == ["demo"]
    run_notebook(binder_lab, ROOT / "notebooks" / "getting-started.ipynb")
