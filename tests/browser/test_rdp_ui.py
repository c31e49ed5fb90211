"""Remote desktops in JupyterLab, in real Chromium, against the STAND-IN guacd.

guacd is not packaged for this Debian: `tests/guacd_standin.py` stands in
for it (written from the published protocol description; no RDP server
behind it). The browser side is the real guacamole-common-js from npm.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guacd_standin import LEFT, NAME, RIGHT, GuacdStandIn
from labserver import ARTIFACTS, LabServer
from playwright.sync_api import Frame, Page, expect

PASSWORD = "Pässwörd ✓ 🔑"
CLIPBOARD_OUT = "Grüße ✓ 剪贴板 🖥 from Windows"
CLIPBOARD_IN = "Hello 世界 ✓ 🚀 from the browser"

PIXEL = """([x, y]) => {
  const canvases = [...document.querySelectorAll('#display canvas')];
  const layer = canvases.find(c => c.width > x && c.height > y);
  if (!layer) return null;
  return Array.from(layer.getContext('2d').getImageData(x, y, 1, 1).data);
}"""


@pytest.fixture
def rdp_lab(tmp_path: Path, guacd: GuacdStandIn) -> Iterator[LabServer]:
    config: dict[str, Any] = {
        "WorkbenchApp": {
            "instances": [
                {
                    "name": "win-1",
                    "host": "127.0.0.1",
                    "protocol": "rdp",
                    "user": "Administrator",
                }
            ],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
            "guacd_host": guacd.host,
            "guacd_port": guacd.port,
        },
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        },
    }
    server = LabServer(tmp_path / "lab", config=config).start()
    yield server
    server.stop()


def open_desktop(page: Page, lab: LabServer, password: str) -> Frame:
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.locator(".jp-LauncherCard", has_text="Instance Desktop").click()
    page.locator('.jp-workbench-picker-row[data-instance="win-1"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator("#jp-workbench-desktop-username")).to_have_value(
        "Administrator"
    )
    page.locator("#jp-workbench-desktop-password").fill(password)
    page.locator("#jp-workbench-desktop-domain").fill("CORP")
    dialog.get_by_role("button", name="Connect", exact=True).click()

    iframe = page.locator(".jp-workbench-desktop-frame iframe")
    iframe.wait_for()
    frame = iframe.element_handle().content_frame()
    assert frame is not None
    frame.wait_for_load_state()
    return frame


def test_desktop_shows_the_image_and_sends_input(
    page: Page, rdp_lab: LabServer, guacd: GuacdStandIn
):
    frame = open_desktop(page, rdp_lab, PASSWORD)

    frame.wait_for_function("() => document.body.dataset.state === 'connected'")
    connection = guacd.wait_connected()
    assert connection.parameters["password"] == PASSWORD
    assert connection.parameters["domain"] == "CORP"

    # The stand-in's PNG, left half and right half, on the display canvas.
    width, height = frame.evaluate("[innerWidth, innerHeight]")
    frame.wait_for_function(
        f"([x, y, rgba]) => String(({PIXEL})([x, y])) === String(rgba)",
        arg=[10, 10, [*LEFT, 255]],
    )
    assert frame.evaluate(PIXEL, [width - 10, height // 2]) == [*RIGHT, 255]
    # The name has an emoji: its length arrived in UTF-16 units, whole.
    expect(frame.locator("body")).to_have_attribute("data-name", NAME)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rdp-desktop.png"))

    display = frame.locator("#display > div").first
    display.click(position={"x": 100, "y": 80})
    assert guacd.wait_for(lambda i: i == ("mouse", "100", "80", "1"))
    assert guacd.wait_for(lambda i: i == ("mouse", "100", "80", "0"))
    page.keyboard.press("a")
    assert guacd.wait_for(lambda i: i == ("key", "97", "1"))
    assert guacd.wait_for(lambda i: i == ("key", "97", "0"))

    page.set_viewport_size({"width": 1000, "height": 700})
    frame.wait_for_function(
        "([w, h]) => innerWidth !== w || innerHeight !== h", arg=[width, height]
    )
    new_width, new_height = frame.evaluate("[innerWidth, innerHeight]")
    assert guacd.wait_for(lambda i: i == ("size", str(new_width), str(new_height)))

    iframe_src = page.locator(".jp-workbench-desktop-frame iframe").get_attribute("src")
    assert iframe_src is not None and "session=" in iframe_src
    assert "ssw" not in iframe_src and PASSWORD not in rdp_lab.log_text()


def test_clipboard_both_ways_keeps_unicode(
    page: Page, rdp_lab: LabServer, guacd: GuacdStandIn
):
    frame = open_desktop(page, rdp_lab, PASSWORD)
    frame.wait_for_function("() => document.body.dataset.state === 'connected'")
    guacd.wait_connected()

    guacd.send_clipboard(CLIPBOARD_OUT)
    expect(frame.locator("body")).to_have_attribute(
        "data-remote-clipboard", CLIPBOARD_OUT
    )

    frame.evaluate(
        """text => {
          const data = new DataTransfer();
          data.setData('text/plain', text);
          document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data }));
        }""",
        CLIPBOARD_IN,
    )
    guacd.wait_for(lambda i: i[0] == "end")
    assert CLIPBOARD_IN in guacd.clipboard_texts()


def test_refused_credentials_are_shown_in_the_panel(
    page: Page, rdp_lab: LabServer, guacd: GuacdStandIn
):
    guacd.password = "the real one"
    frame = open_desktop(page, rdp_lab, "wrong")

    status = frame.locator("#status")
    expect(status).to_contain_text("refused the user name or password")
    expect(frame.locator("body")).to_have_attribute("data-state", "error")
    expect(frame.locator("body")).to_have_attribute("data-error-code", str(0x0301))
