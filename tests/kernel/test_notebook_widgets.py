"""The terminal widget, instance picker and login dialog, on the real sshd.

The widgets are driven through their Python objects (the browser side of
the terminal widget is tested in Chromium, tests/browser/test_widgets_ui.py).
The terminal widget's tests use a real ``jupyter lab`` (the ``lab`` fixture);
the login dialog's use the in-process gateway, which logs in the same way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import ipywidgets
import pytest
from labserver import LabServer
from sshd import LocalUser, SSHServer, UserKey

from jupyter_workbench import NotLoggedIn, Workbench, WorkbenchError
from jupyter_workbench.kernel.login_widgets import (
    InstancePicker,
    LoginDialog,
    connect_widget,
)
from jupyter_workbench.kernel.magics import WorkbenchMagics
from jupyter_workbench.kernel.terminal_widget import TerminalWidget


@pytest.fixture
def remote(lab: LabServer) -> Iterator[Workbench]:
    """A client of the real ``jupyter lab``, as a kernel of it would be."""
    wb = Workbench(url=lab.url, token=lab.token)
    yield wb
    wb.close()


@pytest.fixture
def local(tmp_path: Path, monkeypatch, sshd: SSHServer) -> Iterator[Workbench]:
    """An in-process client with the real sshd as ``real``, not logged in."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("JUPYTER_WORKBENCH_URL", raising=False)
    inventory = tmp_path / "fleet.toml"
    inventory.write_text(
        f'[[instances]]\nname = "real"\nhost = "{sshd.host}"\nport = {sshd.port}\n'
        'tags = { env = "test" }\n\n'
        '[[instances]]\nname = "other"\nhost = "127.0.0.1"\nport = 9\n'
    )
    wb = Workbench(inventory=inventory, data_dir=str(tmp_path / "data"))
    yield wb
    wb.close()


def saved_state() -> str:
    """Every widget's state as the notebook would save it, as text."""
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)
    return json.dumps(state, default=lambda value: bytes(value).hex())


def key_upload(key: UserKey) -> tuple[dict[str, object], ...]:
    content = Path(key.path).read_bytes()
    return (
        {
            "name": "id_ed25519",
            "type": "",
            "size": len(content),
            "last_modified": datetime.now(timezone.utc),
            "content": memoryview(content),
        },
    )


def test_terminal_widget_opens_and_reattaches_a_server_session(
    remote: Workbench, lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    remote.login(
        "real",
        ssh_user.name,
        password=ssh_user.password,
        host_key=sshd.host_key_fingerprint,
    )

    widget = remote.terminal("real", height="20em", screen_reader=True)

    assert isinstance(widget, TerminalWidget)
    assert widget.instance == "real" and widget.login_user == ssh_user.name
    assert widget.base_path == "/lab-test/" and widget.height == "20em"
    session = lab.get(f"workbench/api/v1/terminals/{widget.terminal_id}")
    assert session["alive"] and session["instance"] == "real"
    assert widget.terminal_id in [t["id"] for t in remote.terminals()]
    # The bundle is one ES module with xterm.js inside.
    assert "export" in widget._esm and "xterm" in widget._css

    again = remote.terminal(terminal_id=widget.terminal_id)
    assert again.terminal_id == widget.terminal_id
    assert again.login_user == ssh_user.name

    state = json.dumps(widget.get_state(), default=str)
    assert ssh_user.password not in state and lab.token not in state

    assert widget.info()["alive"]
    widget.close_terminal()
    with pytest.raises(WorkbenchError, match="[Tt]erminal"):
        remote.terminal(terminal_id=widget.terminal_id)


def test_terminal_needs_a_login_and_says_so(remote: Workbench):
    with pytest.raises(NotLoggedIn, match="real"):
        remote.terminal("real")
    with pytest.raises(WorkbenchError, match="instance name"):
        remote.terminal()


def test_in_process_terminal_goes_over_the_widget_comm(
    local: Workbench, sshd: SSHServer, ssh_user: LocalUser
):
    """The relay of an in-process session, driven as a browser view would.

    The browser's side of the comm is stood in for by recording what the
    widget sends (the real browser runs it in tests/browser/test_widgets_ui.py);
    the session, the gateway and sshd are real.
    """
    with pytest.raises(NotLoggedIn):
        local.terminal("real")
    local.login(
        "real",
        ssh_user.name,
        password=ssh_user.password,
        host_key=sshd.host_key_fingerprint,
    )
    widget = local.terminal("real")
    assert widget.transport == "kernel" and widget.info()["alive"]
    sent: list[dict[str, object]] = []
    widget.send = sent.append  # the browser's end of the comm

    def text(view: str | None = None) -> str:
        return "".join(
            str(m["data"])
            for m in list(sent)
            if m["type"] == "stdout" and (view is None or m["view"] in ("", view))
        )

    def wait_for(predicate, what: str) -> None:
        for _ in range(300):
            if predicate():
                return
            threading.Event().wait(0.1)
        raise AssertionError(f"no {what} in {sent!r}")

    widget._handle_custom_msg({"type": "attach", "view": "v1"}, [])
    wait_for(lambda: any(m["type"] == "setup" for m in sent), "setup")
    assert sent[0]["view"] == "v1"
    widget._handle_custom_msg({"type": "set_size", "rows": 30, "cols": 100}, [])
    widget._handle_custom_msg({"type": "stdin", "text": "echo hi-$((6*7))\n"}, [])
    wait_for(lambda: "hi-42" in text(), "hi-42")
    wait_for(lambda: widget.info()["cols"] == 100, "resize")

    # A second view gets the scrollback, to itself.
    sent.clear()
    widget._handle_custom_msg({"type": "attach", "view": "v2"}, [])
    wait_for(lambda: "hi-42" in text("v2"), "scrollback")
    assert {m["view"] for m in sent} == {"v2"}

    widget.close_terminal()
    wait_for(lambda: any(m["type"] == "disconnect" for m in sent), "disconnect")
    assert "closed by the user" in text()
    assert widget.terminal_id not in [t["id"] for t in local.terminals()]


def test_connect_shows_the_dialog_then_the_terminal(
    remote: Workbench, sshd: SSHServer, ssh_user: LocalUser
):
    box = connect_widget(remote, "real", screen_reader=True)
    (dialog,) = box.children
    assert isinstance(dialog, LoginDialog) and dialog.username.value == ""

    dialog.username.value = ssh_user.name
    dialog.password.value = ssh_user.password
    dialog.login()
    assert dialog.host_key_box.layout.display is None
    assert sshd.host_key_fingerprint in dialog.host_key.value
    dialog.accept_host_key()

    (terminal,) = box.children
    assert isinstance(terminal, TerminalWidget) and terminal.screen_reader
    # Logged in now: connect goes straight to a terminal.
    assert isinstance(connect_widget(remote, "real"), TerminalWidget)
    with pytest.raises(WorkbenchError, match="No instance named nowhere"):
        connect_widget(remote, "nowhere")


def test_login_dialog_confirms_the_host_key_and_clears_the_password(
    local: Workbench, sshd: SSHServer, ssh_user: LocalUser
):
    logins = []
    dialog = local.login_dialog("real", on_login=logins.append)
    assert dialog.host_key_box.layout.display == "none"

    dialog.username.value = ssh_user.name
    dialog.password.value = ssh_user.password
    dialog.login()

    assert dialog.password.value == ""
    assert dialog.host_key_box.layout.display is None
    assert sshd.host_key_fingerprint in dialog.host_key.value
    assert not local.instances()[0].logged_in
    dialog.reject_host_key()
    assert "rejected" in dialog.status.value and dialog._pending is None
    assert not any(i.logged_in for i in local.instances())

    dialog.password.value = ssh_user.password
    dialog.login()
    dialog.accept_host_key()

    assert f"Logged in to real as {ssh_user.name}" in dialog.status.value
    assert [i.name for i in logins] == ["real"] and dialog.result is not None
    assert dialog._pending is None
    assert ssh_user.password not in saved_state()


def test_login_dialog_errors_are_one_line(
    local: Workbench, sshd: SSHServer, ssh_user: LocalUser
):
    dialog = LoginDialog(local, "real")
    dialog.username.value = ""
    dialog.login()
    assert "Type the user name" in dialog.status.value

    dialog.username.value = ssh_user.name
    dialog.password.value = "not-the-password"
    dialog.login()
    dialog.accept_host_key()
    assert "Authentication failed" in dialog.status.value
    assert "\n" not in dialog.status.value and "Traceback" not in dialog.status.value
    assert dialog.password.value == ""

    dialog.method.value = "Private key"
    dialog.login()
    assert "Choose the private key file" in dialog.status.value
    assert dialog._secret_rows["Password"].layout.display == "none"


def test_login_dialog_takes_an_uploaded_key_and_its_passphrase(
    local: Workbench, sshd: SSHServer, ssh_user: LocalUser, ssh_user_key: UserKey
):
    local.login(
        "real",
        ssh_user.name,
        password=ssh_user.password,
        host_key=sshd.host_key_fingerprint,
    )
    local.logout("real")
    dialog = local.login_dialog("real")
    dialog.username.value = ssh_user.name
    dialog.method.value = "Private key"
    dialog.key_file.value = key_upload(ssh_user_key)
    dialog.passphrase.value = ssh_user_key.passphrase

    dialog.login()

    assert "Logged in to real" in dialog.status.value, dialog.status.value
    assert dialog.key_file.value == () and dialog.passphrase.value == ""
    state = saved_state()
    assert ssh_user_key.passphrase not in state
    assert "PRIVATE KEY" not in state


def test_login_dialog_answers_keyboard_interactive_prompts(
    local: Workbench, sshd: SSHServer, ssh_user: LocalUser
):
    dialog = local.login_dialog()
    assert isinstance(dialog.picker, InstancePicker)
    dialog.picker.value = "real"
    dialog.username.value = ssh_user.name
    dialog.login()  # no password: the instance asks
    dialog.accept_host_key()

    assert dialog.challenge_box.layout.display is None
    (prompt,) = dialog.prompts
    assert isinstance(prompt, ipywidgets.Password)
    prompt.value = ssh_user.password
    dialog.answer()

    assert "Logged in to real" in dialog.status.value, dialog.status.value
    assert prompt.value == "" and ssh_user.password not in saved_state()
    labels = dict((name, label) for label, name in dialog.picker.dropdown.options)
    assert labels["real"].startswith("● real") and labels["other"].startswith("○")


def test_picker_filters_and_shows_login_state(local: Workbench):
    picker = local.picker()
    assert sorted(name for _, name in picker.dropdown.options) == ["other", "real"]
    assert "not logged in" in picker.status.value

    picker.filter.value = "env=test"
    assert [name for _, name in picker.dropdown.options] == ["real"]
    assert picker.value == "real" and picker.selected.port > 0
    picker.filter.value = "nothing-like-it"
    assert picker.value is None and "No instance matches" in picker.status.value


def test_magics_terminal_and_connect(
    remote: Workbench, sshd: SSHServer, ssh_user: LocalUser, capsys
):
    magics = WorkbenchMagics(None, lambda: remote)

    assert magics.workbench("terminal real") is None
    assert "log in" in capsys.readouterr().err.lower()
    box = magics.workbench("connect real")
    assert isinstance(box.children[0], LoginDialog)
    picker_box = magics.workbench("connect")
    assert isinstance(picker_box.children[0].picker, InstancePicker)

    remote.login(
        "real",
        ssh_user.name,
        password=ssh_user.password,
        host_key=sshd.host_key_fingerprint,
    )
    assert isinstance(magics.workbench("terminal real"), TerminalWidget)
    assert isinstance(magics.workbench("connect real"), TerminalWidget)
