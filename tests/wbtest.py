"""Small helpers shared by the gateway and server tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncssh
from sshd import SSHServer

from jupyter_workbench.gateway.inventory import Instance
from jupyter_workbench.gateway.terminals import TerminalSession

PRINCIPAL = "alice"


def instance_for(server: SSHServer, name: str = "real", **fields: Any) -> Instance:
    """Return an inventory entry for a test sshd."""
    return Instance(name=name, host=server.host, port=server.port, **fields)


def host_key(server: SSHServer) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(server.host_public_key)


class Screen:
    """Collects what a terminal session sends to one watcher."""

    def __init__(self) -> None:
        self.messages: list[list[Any]] = []
        self._changed = asyncio.Event()

    async def __call__(self, message: list[Any]) -> None:
        self.messages.append(message)
        self._changed.set()

    @property
    def text(self) -> str:
        return "".join(m[1] for m in self.messages if m[0] == "stdout")

    async def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        """Wait until *needle* appears in the output; return the output."""
        return await wait_until(
            lambda: needle in self.text, self._changed, timeout, self
        )

    async def wait_for_message(self, kind: str, timeout: float = 10.0) -> list[Any]:
        await wait_until(
            lambda: any(m[0] == kind for m in self.messages),
            self._changed,
            timeout,
            self,
        )
        return next(m for m in self.messages if m[0] == kind)


async def wait_until(
    check: Callable[[], bool], changed: asyncio.Event, timeout: float, screen: Screen
) -> str:
    async def loop() -> None:
        while not check():
            changed.clear()
            await changed.wait()

    try:
        await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"Not seen in time; the screen shows:\n{screen.text!r}"
        ) from None
    return screen.text


async def attach(session: TerminalSession) -> Screen:
    """Attach a new screen to *session*, replaying setup and scrollback into it."""
    screen = Screen()
    for message in session.attach(screen):
        await screen(message)
    return screen


Opener = Callable[[], Awaitable[Any]]


def local_workbench(tmp_path: Any, monkeypatch: Any, sshd: SSHServer, user: Any) -> Any:
    """Return an in-process `Workbench` logged in to *sshd* (as ``real``) as *user*.

    HOME points at *tmp_path*, so no ``~/.ssh/config`` instance leaks in.
    """
    from jupyter_workbench import Workbench

    monkeypatch.setenv("HOME", str(tmp_path))
    inventory = tmp_path / "fleet.toml"
    inventory.write_text(
        f'[[instances]]\nname = "real"\nhost = "{sshd.host}"\nport = {sshd.port}\n'
    )
    client = Workbench(inventory=inventory, data_dir=str(tmp_path / "data"))
    client.login(
        "real", user.name, password=user.password, host_key=sshd.host_key_fingerprint
    )
    return client
