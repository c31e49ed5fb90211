"""Instance Files in JupyterLab, in real Chromium, on the real sshd and user."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import ARTIFACTS, LabServer, browser_lab, write_notebook
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


#: A folder dropped from the desktop: ``items`` whose ``webkitGetAsEntry``
#: gives a directory entry, read the way Chromium's File System API reads
#: (``readEntries`` until it answers nothing). Chromium gives synthetic
#: DataTransfer items no entries of their own, so the entries are built
#: here with the same interface.
DROP_FOLDER = """([selector, tree]) => {
  const entry = (name, node) => {
    if (typeof node === 'string') {
      return {
        isFile: true, isDirectory: false, name,
        file: (ok) => ok(new File([node], name, {type: 'text/plain'})),
      };
    }
    const children = Object.entries(node).map(([n, c]) => entry(n, c));
    return {
      isFile: false, isDirectory: true, name,
      createReader: () => {
        let sent = false;
        return {readEntries: (ok) => { ok(sent ? [] : children); sent = true; }};
      },
    };
  };
  const [name, node] = Object.entries(tree)[0];
  const item = {kind: 'file', webkitGetAsEntry: () => entry(name, node)};
  const event = new Event('drop', {bubbles: true, cancelable: true});
  Object.defineProperty(event, 'dataTransfer', {value: {items: [item], files: []}});
  document.querySelector(selector).dispatchEvent(event);
}"""

LISTING = '.jp-WorkbenchFiles[data-workbench-instance="real"] .jp-DirListing-content'


def open_drive(page: Page, lab: LabServer, sshd: SSHServer, user: LocalUser):
    log_in_by_api(lab, sshd, user)
    page.goto(f"{lab.url}lab?token={lab.token}")
    browser = page.locator('.jp-WorkbenchFiles[data-workbench-instance="real"]')
    expect(browser).to_be_visible()
    expect(browser.locator(".jp-BreadCrumbs")).to_contain_text(user.name)
    return browser


def wait_until(page: Page, condition, what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_folder_on_the_instance_is_listed_as_a_folder_and_opens(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    folder = f"made-on-instance-{secrets.token_hex(3)}"
    home = Path(ssh_user.home)
    (home / folder).mkdir()
    (home / folder / "inside.txt").write_text("inside\n")
    try:
        browser = open_drive(page, lab, sshd, ssh_user)
        item = browser.locator(".jp-DirListing-item").filter(has_text=folder)
        expect(item).to_have_count(1)
        # JupyterLab marks a folder's row with its type; a folder listed as
        # a file cannot be opened (a double click would open an editor).
        expect(item).to_have_attribute("data-file-type", "directory")
        item.dblclick()
        expect(browser.locator(".jp-BreadCrumbs")).to_contain_text(folder)
        items = browser.locator(".jp-DirListing-itemName")
        expect(items.filter(has_text="inside.txt")).to_have_count(1)
    finally:
        subprocess.run(["rm", "-rf", "--", str(home / folder)], check=True)


def test_dropping_a_folder_uploads_its_tree(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    folder = f"dropped-{secrets.token_hex(3)}"
    home = Path(ssh_user.home)
    browser = open_drive(page, lab, sshd, ssh_user)
    try:
        tree = {folder: {"a.txt": "alpha\n", "inner": {"b.txt": "beta\n"}}}
        page.evaluate(DROP_FOLDER, [LISTING, tree])

        items = browser.locator(".jp-DirListing-itemName")
        expect(items.filter(has_text=folder)).to_have_count(1)
        wait_until(
            page,
            lambda: (home / folder / "inner" / "b.txt").exists(),
            "the folder's files on the instance",
        )
        assert (home / folder / "a.txt").read_text() == "alpha\n"
        assert (home / folder / "inner" / "b.txt").read_text() == "beta\n"
        # JupyterLab makes the folder as "Untitled Folder" and renames it.
        assert not [p for p in home.iterdir() if p.name.startswith("Untitled Folder")]
    finally:
        subprocess.run(["rm", "-rf", "--", str(home / folder)], check=True)


def test_cancelling_an_upload_keeps_the_remote_file(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    name = f"cancel-{secrets.token_hex(3)}.bin"
    home = Path(ssh_user.home)
    target = home / name
    target.write_bytes(b"original on the instance")
    subprocess.run(["chown", f"{ssh_user.name}:", str(target)], check=True)
    browser = open_drive(page, lab, sshd, ssh_user)
    try:
        expect(
            browser.locator(".jp-DirListing-itemName").filter(has_text=name)
        ).to_have_count(1)
        # 64 MiB: JupyterLab sends it as 64 chunks of 1 MiB, after asking
        # whether to upload a large file and whether to overwrite.
        page.evaluate(DROP, [LISTING, [[name, "", 64 * 1024 * 1024]]])
        dialog = page.locator(".jp-Dialog")
        dialog.get_by_role("button", name="Upload").click()
        dialog.get_by_role("button", name="Overwrite").click()

        toast = page.locator(".Toastify__toast").filter(has_text=f"Uploading {name}")
        expect(toast).to_be_visible()
        wait_until(
            page,
            lambda: any(p.name.startswith(f".{name}.") for p in home.iterdir()),
            "the upload's temporary file",
        )
        toast.get_by_role("button", name="Cancel").click()

        expect(
            page.locator(".Toastify__toast").filter(has_text="cancelled")
        ).to_be_visible()
        wait_until(
            page,
            lambda: not any(p.name.endswith(".wb-upload") for p in home.iterdir()),
            "the temporary file to be removed",
        )
        assert target.read_bytes() == b"original on the instance"
    finally:
        target.unlink(missing_ok=True)


def test_saving_over_a_remote_change_warns(
    page: Page, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    name = f"conflict-{secrets.token_hex(3)}.txt"
    target = Path(ssh_user.home) / name
    target.write_text("as opened\n")
    subprocess.run(["chown", f"{ssh_user.name}:", str(target)], check=True)
    browser = open_drive(page, lab, sshd, ssh_user)
    try:
        browser.locator(".jp-DirListing-itemName").filter(has_text=name).dblclick()
        editor = page.locator(".jp-FileEditor .cm-content")
        expect(editor).to_contain_text("as opened")

        # Someone changes the file on the instance after it was opened.
        target.write_text("changed on the instance\n")
        later = time.time() + 60
        os.utime(target, (later, later))

        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("typed in the browser")
        page.keyboard.press("Control+s")

        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("File Changed")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_have_count(0)
        assert target.read_text() == "changed on the instance\n"
    finally:
        target.unlink(missing_ok=True)


def test_file_browser_widget_in_notebook_7(
    page: Page, tmp_path: Path, sshd: SSHServer, ssh_user: LocalUser
):
    from test_widgets_ui import CELLS, KERNEL_START, log_in_with_dialog, run_cell

    folder = Path(ssh_user.home) / f"widget-{secrets.token_hex(3)}"
    (folder / "beta").mkdir(parents=True)
    (folder / "alpha.txt").write_text("a\n")
    (folder / "beta" / "inner.txt").write_text("i\n")
    subprocess.run(["chown", "-R", f"{ssh_user.name}:", str(folder)], check=True)
    server = browser_lab(
        tmp_path, {"real": sshd}, command=[sys.executable, "-m", "notebook"]
    )
    try:
        cells = [CELLS[0], f'fs = wb.files("real")\nfs.browser({str(folder)!r})']
        write_notebook(server.directory / "root" / "files.ipynb", cells)
        page.goto(f"{server.url}notebooks/files.ipynb?token={server.token}")
        expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(
            2, timeout=KERNEL_START
        )
        run_cell(page, 0)
        log_in_with_dialog(page, sshd, ssh_user)
        run_cell(page, 1)

        listing = page.locator(".widget-select select")
        expect(listing.locator("option")).to_have_text(
            ["beta/", "alpha.txt"], timeout=KERNEL_START
        )
        listing.select_option(label="beta/")
        page.get_by_role("button", name="Open", exact=True).click()
        expect(listing.locator("option")).to_have_text(["inner.txt"])
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "file-widget-notebook7.png"))
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", "--", str(folder)], check=True)
