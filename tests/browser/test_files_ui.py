"""Instance Files in JupyterLab, in real Chromium, on the real sshd and user."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import ARTIFACTS, LabServer
from playwright.sync_api import Page, expect
from sshd import LocalUser, SSHServer

API = "workbench/api/v1/instances/real"

#: A drop as the desktop sends it. Chromium gives synthetic DataTransfer
#: items no file-system entry, so the event carries only ``files``, which
#: is the path JupyterLab takes for browsers without entries.
DROP = """([selector, files]) => {
  const made = files.map(([name, text, size]) => {
    if (!size) return new File([text], name, {type: 'text/plain'});
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7 + 3) % 251;
    return new File([bytes], name);
  });
  const target = document.querySelector(selector);
  const event = new Event('drop', {bubbles: true, cancelable: true});
  Object.defineProperty(event, 'dataTransfer', {value: {files: made}});
  target.dispatchEvent(event);
}"""


def pattern(size: int) -> bytes:
    return bytes((i * 7 + 3) % 251 for i in range(size))


@pytest.fixture
def names(ssh_user: LocalUser) -> Iterator[tuple[str, str]]:
    tag = secrets.token_hex(3)
    pair = (f"note-{tag}.txt", f"big-{tag}.bin")
    yield pair
    for name in pair:
        (Path(ssh_user.home) / name).unlink(missing_ok=True)


def log_in_by_api(lab: LabServer, sshd: SSHServer, user: LocalUser) -> None:
    body = {"username": user.name, "password": user.password}
    lab.call("POST", f"{API}/login", body)  # first contact: the host key
    lab.call("POST", f"{API}/hostkey", {"fingerprint": sshd.host_key_fingerprint})
    status, answer = lab.call("POST", f"{API}/login", body)
    assert status == 200, answer


def test_drop_open_edit_save_on_the_instance_drive(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser, names
):
    note, big = names
    size = 1024 * 1024 + 300 * 1024  # over 1 MiB: JupyterLab sends chunks
    log_in_by_api(lab, sshd, ssh_user)
    page.goto(f"{lab.url}lab?token={lab.token}")

    browser = page.locator('.jp-WorkbenchFiles[data-workbench-instance="real"]')
    expect(browser).to_be_visible()
    expect(browser.locator(".jp-BreadCrumbs")).to_contain_text(ssh_user.name)
    page.evaluate(
        DROP,
        [
            '.jp-WorkbenchFiles[data-workbench-instance="real"] .jp-DirListing-content',
            [[note, "first line\n", 0], [big, "", size]],
        ],
    )

    items = browser.locator(".jp-DirListing-itemName")
    expect(items.filter(has_text=note)).to_have_count(1)
    expect(items.filter(has_text=big)).to_have_count(1)
    home = Path(ssh_user.home)
    assert (home / note).read_text() == "first line\n"
    assert hashlib.sha256((home / big).read_bytes()).digest() == (
        hashlib.sha256(pattern(size)).digest()
    )

    items.filter(has_text=note).dblclick()
    editor = page.locator(".jp-FileEditor .cm-content")
    expect(editor).to_contain_text("first line")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("added in the browser")
    page.keyboard.press("Control+s")

    for _ in range(100):
        if "added in the browser" in (home / note).read_text():
            break
        page.wait_for_timeout(100)
    # Read back over SSH (the gateway's SFTP), and on the instance's disk.
    status, saved = lab.call("GET", f"{API}/files/content?path={home / note}")
    assert status == 200 and saved["content"] == "first line\nadded in the browser"
    assert (home / note).read_text() == saved["content"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "instance-files.png"))
    assert ssh_user.password not in lab.log_text()
