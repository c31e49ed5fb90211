"""Replaying terminal recordings in JupyterLab: a real session, recorded, replayed.

The session is typed into a real instance terminal on the real sshd; the
replay panel's xterm.js runs in screen-reader mode (always), so its rows
are read from the DOM.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import ARTIFACTS, LabServer, browser_lab
from playwright.sync_api import Locator, Page, expect
from sshd import LocalUser, SSHServer
from test_terminal_ui import (
    TERMINAL_TEXT,
    dialog_button,
    log_in_through_the_ui,
    run_from_palette,
    terminal_row,
    type_in_terminal,
)

REPLAY = ".jp-workbench-replay"


@pytest.fixture
def recording_lab(tmp_path: Path, sshd: SSHServer) -> Iterator[LabServer]:
    server = browser_lab(tmp_path, {"real": sshd}, workbench={"record_terminals": True})
    yield server
    server.stop()


def replay_row(panel: Locator, pattern: str) -> Locator:
    """Return the replayed rows whose whole text matches *pattern*."""
    rows = panel.locator(".xterm-accessibility-tree > *")
    return rows.filter(has_text=re.compile(rf"^\s*{pattern}\s*$"))


def seek_to_end(panel: Locator) -> None:
    seek = panel.locator(".jp-workbench-replay-seek")
    seek.fill(seek.get_attribute("max") or "0")


#: Whether the replay's terminal background is dark.
DARK_VIEWPORT = """() => {
  const viewport = document.querySelector('.jp-workbench-replay .xterm-viewport');
  if (!viewport) return false;
  const [r, g, b] = getComputedStyle(viewport).backgroundColor.match(/\\d+/g).map(Number);
  return (r + g + b) / 3 < 100;
}"""


def is_dark(panel: Locator) -> bool:
    return bool(panel.page.evaluate(f"({DARK_VIEWPORT})()"))


def test_a_recorded_session_replays_to_its_final_screen(
    recording_lab: LabServer,
    page: Page,
    sshd: SSHServer,
    ssh_user: LocalUser,
    tmp_path: Path,
):
    lab = recording_lab
    log_in_through_the_ui(page, lab, ssh_user.name, ssh_user.password)
    dialog_button(page, "Trust and connect").click()
    expect(page.locator(TERMINAL_TEXT)).to_contain_text(ssh_user.name)
    type_in_terminal(page, "printf 'replay-%s\\n' $((6*7)); stty size")
    expect(terminal_row(page, "replay-42")).to_have_count(1)
    expect(terminal_row(page, r"\d+ \d+")).to_have_count(1)
    live_size = terminal_row(page, r"\d+ \d+").inner_text().split()
    type_in_terminal(page, "exit")

    status, listing = lab.call("GET", "workbench/api/v1/recordings")
    [recording] = listing["recordings"]

    run_from_palette(page, "Replay Terminal Recording")
    expect(page.locator("#jp-workbench-replay-pick")).to_have_value(recording["id"])
    dialog_button(page, "Replay").click()
    panel = page.locator(f"#jp-workbench-replay-{recording['id']} {REPLAY}")
    panel.locator(".jp-workbench-replay-speed").select_option("16")
    seek_to_end(panel)

    expect(panel).to_have_attribute("data-state", "ended")
    expect(replay_row(panel, "replay-42")).to_have_count(1)
    # The replay has the recorded size, so the screen is the one recorded.
    expect(replay_row(panel, " ".join(live_size))).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "replay-recording.png"))

    # The colours follow JupyterLab's theme.
    assert not is_dark(panel)
    run_from_palette(page, "Use Theme: JupyterLab Dark")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_function(DARK_VIEWPORT)

    # Seeking back to the start clears the screen; play and pause work.
    panel.locator(".jp-workbench-replay-seek").fill("0")
    expect(replay_row(panel, "replay-42")).to_have_count(0)
    play = panel.locator(".jp-workbench-replay-play")
    play.click()
    expect(panel).to_have_attribute("data-state", re.compile("playing|ended"))
    expect(replay_row(panel, "replay-42")).to_have_count(1)

    # The same file opened from the file browser plays in the same viewer.
    source = next((tmp_path / "workbench" / "recordings").rglob("*.cast"))
    shutil.copy(source, lab.directory / "root" / "session.cast")
    page.locator('[data-command="filebrowser:refresh"]').first.click()
    page.locator(".jp-DirListing-itemName", has_text="session.cast").dblclick()
    viewer = page.get_by_role("tabpanel", name="session.cast").locator(REPLAY)
    viewer.locator(".jp-workbench-replay-speed").select_option("16")
    seek_to_end(viewer)
    expect(replay_row(viewer, "replay-42")).to_have_count(1)

    # The password typed in the login dialog is in no log, audit record,
    # recording or other file that the server wrote.
    assert ssh_user.password not in lab.log_text()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "audit.jsonl" for p in written)
    for path in written:
        assert ssh_user.password.encode() not in path.read_bytes(), path
