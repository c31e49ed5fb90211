"""Login credentials, held in memory only and never shown in full.

A `Credentials` object knows how to turn itself into asyncssh options and
keeps its secrets out of ``repr``, logs and error messages.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from .errors import AuthenticationFailed

SECRET_FIELDS = ("password", "private_key", "passphrase")


@dataclass(repr=False)
class Credentials:
    """What one login offers: a password, a private key, or the ssh-agent.

    Parameters
    ----------
    username
        The login user on the instance.
    password
        Used for password and keyboard-interactive password prompts.
    private_key
        Pasted private key text (OpenSSH or PEM, RSA, ECDSA or Ed25519).
    key_path
        A private key file on the gateway's machine.
    passphrase
        Decrypts an encrypted private key.
    agent
        Offer the keys of the gateway process's ssh-agent (``SSH_AUTH_SOCK``).
    interactive
        Pass keyboard-interactive prompts other than a password prompt to
        the user instead of failing.
    """

    username: str
    password: str | None = None
    private_key: str | None = None
    key_path: str | None = None
    passphrase: str | None = None
    agent: bool = False
    interactive: bool = True
    _keys: list[asyncssh.SSHKey] | None = field(default=None, init=False)

    @property
    def method(self) -> str:
        """Name the offered method, for logs and audit (never the secret)."""
        if self.private_key or self.key_path:
            return "publickey"
        if self.agent:
            return "agent"
        if self.password is not None:
            return "password"
        return "keyboard-interactive"

    @property
    def replayable(self) -> bool:
        """Whether a further pooled connection can log in without the user."""
        return self.method != "keyboard-interactive"

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, method={self.method!r})"

    def keys(self) -> list[asyncssh.SSHKey]:
        """Load the private key once; the decrypted key stays in memory.

        Raises
        ------
        AuthenticationFailed
            When the key cannot be read or the passphrase is wrong.
        """
        if self._keys is not None:
            return self._keys
        if not (self.private_key or self.key_path):
            return []
        try:
            if self.private_key:
                key = asyncssh.import_private_key(self.private_key, self.passphrase)
            else:
                path = Path(self.key_path or "").expanduser()
                key = asyncssh.read_private_key(path, self.passphrase)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            hint = (
                "check the passphrase"
                if self.passphrase
                or "encrypt" in str(exc).lower()
                or "passphrase" in str(exc).lower()
                else "paste the whole key, including its BEGIN and END lines"
            )
            raise AuthenticationFailed(
                f"The private key could not be used ({exc}): {hint}", reason="key"
            ) from None
        except OSError as exc:
            raise AuthenticationFailed(
                f"The key file {self.key_path} could not be read ({exc.strerror})",
                reason="key",
            ) from None
        self._keys = [key]
        return self._keys

    def connect_options(self, agent_keys: Sequence[Any] = ()) -> dict[str, Any]:
        """Return asyncssh options that offer exactly these credentials.

        asyncssh would otherwise also try the ``~/.ssh/id_*`` keys, the agent
        and GSSAPI of the gateway process, which belong to whoever runs the
        server, not to the Jupyter user asking.

        Parameters
        ----------
        agent_keys
            The keys of an open agent connection (see `open_agent`), offered
            when ``agent`` is set.

        Raises
        ------
        AuthenticationFailed
            When the key cannot be loaded.
        """
        keys = list(agent_keys) if self.agent else list(self.keys())
        return {
            "username": self.username,
            "client_keys": keys or None,
            "agent_path": None,
            "gss_host": None,
            "password": self.password,
        }


async def open_agent() -> tuple[asyncssh.SSHAgentClient, list[Any]]:
    """Connect to the gateway process's ssh-agent and list its keys.

    The keys sign through the returned connection: close it once the
    login is done.

    Raises
    ------
    AuthenticationFailed
        When there is no agent, it cannot be reached, or it holds no keys.
    """
    socket_path = os.environ.get("SSH_AUTH_SOCK")
    if not socket_path:
        raise AuthenticationFailed(
            "No ssh-agent is available to the Jupyter server (SSH_AUTH_SOCK is not "
            "set): start the server from a shell with an agent, or log in with a key "
            "or password",
            reason="agent",
        )
    try:
        agent = await asyncssh.connect_agent(socket_path)
        keys = list(await agent.get_keys())
    except (OSError, ValueError) as exc:
        raise AuthenticationFailed(
            f"The ssh-agent at SSH_AUTH_SOCK could not be used ({exc})", reason="agent"
        ) from None
    if not keys:
        agent.close()
        await agent.wait_closed()
        raise AuthenticationFailed(
            "The ssh-agent holds no keys: add one with ssh-add", reason="agent"
        )
    return agent, keys
