"""Notebook widgets to pick an instance and log in to it (plain ipywidgets).

`InstancePicker` lists the instances with this user's login state and
filters them as you type. `LoginDialog` logs in: user, password or a
private key file with its passphrase, the server's ssh-agent, the
instance's keyboard-interactive prompts, and on first contact the host
key's fingerprint to accept or reject.

Secrets are read from the form and cleared from it at once, before the
login is even tried: a widget's values are synced to the browser and can
be saved in the notebook file with the widget state, so a password must
not stay there. Between a first attempt and an accepted host key the
credentials wait in a private attribute of the Python object, which is
not synced, and are dropped when the login ends either way.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..gateway.errors import HostKeyUnknown, WorkbenchError
from .client import InstanceInfo

if TYPE_CHECKING:
    from .client import Workbench

log = logging.getLogger(__name__)

_ERROR = "var(--jp-error-color1, #d32f2f)"
_OK = "var(--jp-success-color1, #388e3c)"
_DIM = "var(--jp-ui-font-color2, #757575)"
METHODS = ("Password", "Private key", "Agent")


class InstancePicker(w.VBox):  # type: ignore[misc]
    """Pick an instance: a filter box and a list showing your login state.

    Parameters
    ----------
    wb
        The `Workbench` to ask for instances.
    protocol
        Only list instances of this protocol (``"ssh"``); None lists all.
    """

    def __init__(self, wb: Workbench, *, protocol: str | None = "ssh") -> None:
        self._wb = wb
        self._protocol = protocol
        self.instances: dict[str, InstanceInfo] = {}
        self.filter = w.Text(
            placeholder="filter: name, host or tag=value",
            description="Filter",
            continuous_update=True,
        )
        self.dropdown = w.Dropdown(options=[], description="Instance")
        self.refresh_button = w.Button(
            description="Refresh", tooltip="List the instances again"
        )
        self.status = w.HTML()
        self.filter.observe(lambda _c: self._show(), names="value")
        self.dropdown.observe(lambda _c: self._describe(), names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        super().__init__(
            [w.HBox([self.dropdown, self.refresh_button]), self.filter, self.status]
        )
        self.add_class("jp-WorkbenchPicker")
        self.refresh()

    @property
    def value(self) -> str | None:
        """The picked instance's name, or None."""
        return self.dropdown.value  # type: ignore[no-any-return]

    @value.setter
    def value(self, name: str | None) -> None:
        self.dropdown.value = name

    @property
    def selected(self) -> InstanceInfo | None:
        """The picked instance, or None."""
        return self.instances.get(self.value) if self.value else None

    def refresh(self) -> None:
        """List the instances and their login state again."""
        try:
            listed = self._wb.instances()
        except WorkbenchError as exc:
            self.status.value = _line(exc.message, _ERROR)
            return
        self.instances = {
            i.name: i
            for i in listed
            if self._protocol is None or i.protocol == self._protocol
        }
        self._show()

    def matches(self, instance: InstanceInfo) -> bool:
        """Whether *instance* matches the filter text (every word must)."""
        words = str(self.filter.value).lower().split()
        fields = [instance.name, instance.id, instance.host]
        fields += [f"{k}={v}" for k, v in instance.tags.items()]
        text = " ".join(str(f) for f in fields).lower()
        return all(word in text for word in words)

    def _show(self) -> None:
        shown = [i for i in self.instances.values() if self.matches(i)]
        previous = self.value
        self.dropdown.options = [(_label(i), i.name) for i in shown]
        names = [i.name for i in shown]
        self.dropdown.value = previous if previous in names else next(iter(names), None)
        self._describe()

    def _describe(self) -> None:
        instance = self.selected
        if instance is None:
            self.status.value = _line("No instance matches the filter", _DIM)
            return
        state = (
            f"logged in as {', '.join(instance.login_users) or instance.login_user}"
            if instance.logged_in
            else "not logged in"
        )
        colour = _OK if instance.logged_in else _DIM
        where = f"{instance.host}:{instance.port}"
        self.status.value = _line(f"{instance.name} ({where}): {state}", colour)


class LoginDialog(w.VBox):  # type: ignore[misc]
    """Log in to an instance from a notebook.

    Parameters
    ----------
    wb
        The `Workbench` to log in with.
    name
        The instance; without it the dialog starts with an `InstancePicker`.
    on_login
        Called with the `InstanceInfo` after each successful login.

    Attributes
    ----------
    result
        The instance after the latest successful login, or None.
    """

    def __init__(
        self,
        wb: Workbench,
        name: str | None = None,
        *,
        on_login: Callable[[InstanceInfo], Any] | None = None,
    ) -> None:
        self._wb = wb
        self._name = name
        self._on_login = on_login
        # (instance, login body) between an attempt and the host-key answer.
        self._pending: tuple[str, dict[str, Any]] | None = None
        self._challenge: dict[str, Any] | None = None
        self._fingerprint = ""
        self.result: InstanceInfo | None = None

        self.picker = InstancePicker(wb) if name is None else None
        self.username = w.Text(description="User", placeholder="login user")
        self.method = w.ToggleButtons(options=METHODS, value="Password")
        self.password = w.Password(description="Password")
        self.key_file = w.FileUpload(
            description="Key file", multiple=False, accept="", layout={"width": "auto"}
        )
        self.passphrase = w.Password(
            description="Passphrase", placeholder="if the key is encrypted"
        )
        self.login_button = w.Button(description="Log in", button_style="primary")
        self.host_key = w.HTML()
        self.accept_button = w.Button(description="Accept", button_style="warning")
        self.reject_button = w.Button(description="Reject")
        self.host_key_box = w.VBox(
            [self.host_key, w.HBox([self.accept_button, self.reject_button])]
        )
        self.prompts: list[w.Text | w.Password] = []
        self.answer_button = w.Button(description="Send", button_style="primary")
        self.challenge_box = w.VBox()
        self.status = w.HTML()

        self.method.observe(lambda _c: self._show_method(), names="value")
        self.login_button.on_click(lambda _b: self.login())
        self.accept_button.on_click(lambda _b: self.accept_host_key())
        self.reject_button.on_click(lambda _b: self.reject_host_key())
        self.answer_button.on_click(lambda _b: self.answer())
        if self.picker is not None:
            self.picker.dropdown.observe(lambda _c: self._suggest_user(), names="value")

        title = w.HTML(f"<b>Log in to {escape(name)}</b>" if name else "<b>Log in</b>")
        self._secret_rows = {
            "Password": w.VBox([self.password]),
            "Private key": w.VBox([self.key_file, self.passphrase]),
            "Agent": w.VBox(
                [w.HTML(_line("The Jupyter server's ssh-agent signs in", _DIM))]
            ),
        }
        super().__init__(
            [
                title,
                *([self.picker] if self.picker is not None else []),
                self.username,
                self.method,
                *self._secret_rows.values(),
                self.login_button,
                self.host_key_box,
                self.challenge_box,
                self.status,
            ]
        )
        self.add_class("jp-WorkbenchLoginDialog")
        self._hide(self.host_key_box, True)
        self._hide(self.challenge_box, True)
        self._show_method()
        self._suggest_user()

    @property
    def instance(self) -> str | None:
        """The instance to log in to."""
        if self.picker is not None:
            return self.picker.value
        return self._name

    def login(self) -> None:
        """Log in with what the form holds; the secrets are cleared from it."""
        name = self.instance
        if not name:
            self._say("Pick an instance first", error=True)
            return
        try:
            body = self._take_credentials(name)
        except WorkbenchError as exc:
            self._say(exc.message, error=True)
            return
        self._attempt(name, body)

    def accept_host_key(self) -> None:
        """Trust the fingerprint shown, then log in with the same credentials."""
        if self._pending is None:
            return
        name, body = self._pending
        fingerprint = self._fingerprint
        self._hide(self.host_key_box, True)
        try:
            self._wb._call(self._wb.backend.accept_host_key(name, fingerprint))
        except WorkbenchError as exc:
            self._pending = None
            self._say(exc.message, error=True)
            return
        self._attempt(name, body)

    def reject_host_key(self) -> None:
        """Do not trust the key: forget the credentials, stay logged out."""
        name = self._pending[0] if self._pending else self.instance
        self._pending = None
        self._hide(self.host_key_box, True)
        self._say(
            f"Host key rejected: not logged in to {name}. Ask the instance's "
            "administrator for its fingerprint before you try again.",
            error=True,
        )

    def answer(self) -> None:
        """Send the answers to the instance's keyboard-interactive prompts."""
        challenge, name = self._challenge, self.instance
        if challenge is None or name is None:
            return
        answers = [str(field.value) for field in self.prompts]
        for field in self.prompts:
            field.value = ""
        self._challenge = None
        self._hide(self.challenge_box, True)
        self._say(f"Logging in to {name}…")
        try:
            outcome = self._wb._call(
                self._wb.backend.respond(name, challenge["challenge"], answers)
            )
        except WorkbenchError as exc:
            self._say(exc.message, error=True)
            return
        self._handle(name, outcome)

    def _take_credentials(self, name: str) -> dict[str, Any]:
        """Read the login fields and clear every secret from the form."""
        username = str(self.username.value).strip()
        password = str(self.password.value)
        passphrase = str(self.passphrase.value)
        chosen = list(self.key_file.value)
        self.password.value = ""
        self.passphrase.value = ""
        self.key_file.value = ()

        method = self.method.value
        instance = self.picker.selected if self.picker is not None else None
        if not username:
            if (instance is not None and instance.demo) or self._is_demo(name):
                return {}  # the server holds the demo instance's credentials
            raise WorkbenchError("Type the user name to log in as")
        body: dict[str, Any] = {"username": username}
        if method == "Password" and password:
            body["password"] = password
        elif method == "Private key":
            body.update(_private_key(chosen))
            if passphrase:
                body["passphrase"] = passphrase
        elif method == "Agent":
            body["agent"] = True
        # A password login with no password asks the instance's own prompts.
        return body

    def _attempt(self, name: str, body: dict[str, Any]) -> None:
        self._say(f"Logging in to {name}…")
        try:
            outcome = self._wb._call(self._wb.backend.login(name, body))
        except HostKeyUnknown as exc:
            self._pending = (name, body)
            self._show_host_key(name, exc)
            return
        except WorkbenchError as exc:
            self._pending = None
            self._say(exc.message, error=True)
            return
        self._pending = None
        self._handle(name, outcome)

    def _handle(self, name: str, outcome: dict[str, Any]) -> None:
        if outcome.get("status") == "challenge":
            self._show_challenge(outcome)
            return
        info = InstanceInfo.from_dict(outcome["instance"])
        self.result = info
        user = info.login_user or "the demo user"
        log.info("Logged in to %s from the login dialog", name)
        self._say(f"Logged in to {name} as {user}.", colour=_OK)
        if self.picker is not None:
            self.picker.refresh()
        if self._on_login is not None:
            try:
                self._on_login(info)
            except WorkbenchError as exc:
                self._say(exc.message, error=True)

    def _show_host_key(self, name: str, exc: HostKeyUnknown) -> None:
        details = exc.details
        fingerprint = str(details.get("fingerprint", ""))
        where = f"{details.get('host', '?')}:{details.get('port', '?')}"
        self._fingerprint = fingerprint
        self.host_key.value = (
            f"<p>First contact with <b>{escape(name)}</b> ({escape(where)}). Its "
            f"{escape(str(details.get('key_type', '')))} host key has the fingerprint"
            f"<br><code class='jp-WorkbenchFingerprint'>{escape(fingerprint)}</code>"
            "<br>Accept it only if it is the one the instance's administrator "
            "gave you (<code>ssh-keygen -lf</code> on the instance's host key).</p>"
        )
        self._hide(self.host_key_box, False)
        self._say("Check the host key", colour=_DIM)

    def _show_challenge(self, challenge: dict[str, Any]) -> None:
        self._challenge = challenge
        self.prompts = [
            (w.Text if prompt.get("echo") else w.Password)(
                description=str(prompt.get("prompt", "")).strip().rstrip(":")[:20]
            )
            for prompt in challenge.get("prompts", [])
        ]
        intro = challenge.get("instructions") or challenge.get("name") or ""
        rows: list[w.Widget] = [w.HTML(_line(intro, _DIM))] if intro else []
        self.challenge_box.children = [*rows, *self.prompts, self.answer_button]
        self._hide(self.challenge_box, False)
        self._say("The instance asks:", colour=_DIM)

    def _show_method(self) -> None:
        for method, row in self._secret_rows.items():
            self._hide(row, method != self.method.value)

    def _suggest_user(self) -> None:
        instance = self.picker.selected if self.picker is not None else None
        if instance is None and self._name is not None:
            instance = self._lookup(self._name)
        if instance is None or self.username.value:
            return
        if instance.demo:
            self.username.placeholder = "none needed for the demo"
        elif instance.user:
            self.username.value = instance.user
        else:
            self.username.placeholder = getpass.getuser()

    def _is_demo(self, name: str) -> bool:
        instance = self._lookup(name)
        return instance is not None and instance.demo

    def _lookup(self, name: str) -> InstanceInfo | None:
        try:
            listed = self._wb.instances()
        except WorkbenchError:
            return None
        return next((i for i in listed if name in (i.name, i.id)), None)

    def _say(self, text: str, *, error: bool = False, colour: str = "inherit") -> None:
        self.status.value = _line(text, _ERROR if error else colour)

    @staticmethod
    def _hide(widget: w.Widget, hidden: bool) -> None:
        widget.layout.display = "none" if hidden else None


def connect_widget(wb: Workbench, name: str | None = None, **terminal: Any) -> Any:
    """Return a terminal on *name*, after a login dialog when not logged in.

    Without *name*, the dialog starts with an instance picker, and the
    terminal opens on the instance picked. The demo instance needs no
    dialog: the server holds its credentials.
    """
    box = w.VBox()
    box.add_class("jp-WorkbenchConnect")

    def show_terminal(info: InstanceInfo) -> None:
        box.children = [wb.terminal(info.name, **terminal)]

    if name is None:
        box.children = [LoginDialog(wb, on_login=show_terminal)]
        return box
    instance = next((i for i in wb.instances() if name in (i.name, i.id)), None)
    if instance is None:
        raise WorkbenchError(f"No instance named {name}: %workbench hosts lists them")
    if instance.logged_in:
        return wb.terminal(instance.name, **terminal)
    if instance.demo:
        wb.login(instance.name)
        return wb.terminal(instance.name, **terminal)
    box.children = [LoginDialog(wb, instance.name, on_login=show_terminal)]
    return box


def _private_key(chosen: list[dict[str, Any]]) -> dict[str, str]:
    if not chosen:
        raise WorkbenchError("Choose the private key file first (Key file)")
    text = bytes(chosen[0]["content"]).decode("utf-8", errors="replace")
    if "PRIVATE KEY" not in text:
        raise WorkbenchError(
            f"{chosen[0].get('name', 'That file')} is not a private key: choose "
            "the key file itself (id_ed25519, not id_ed25519.pub)"
        )
    return {"private_key": text}


def _label(instance: InstanceInfo) -> str:
    mark = "●" if instance.logged_in else "○"
    user = f" as {instance.login_user}" if instance.logged_in else ""
    return f"{mark} {instance.name} ({instance.host}){user}"


def _line(text: str, colour: str) -> str:
    one_line = " ".join(str(text).split())
    return f'<span style="color:{colour}">{escape(one_line)}</span>'


__all__ = ["InstancePicker", "LoginDialog", "connect_widget"]
