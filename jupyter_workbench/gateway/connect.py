"""Open one SSH connection to an instance: check, connect, classify failures.

This is the only place that calls `asyncssh.connect`. It resolves and
checks the address against the network rules, verifies the host key
against the principal's known_hosts, passes keyboard-interactive prompts
to the user, and turns every failure into a `WorkbenchError` that says
what to do.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from .credentials import Credentials, open_agent
from .errors import AuthenticationFailed, SSHError, Unreachable, WorkbenchError
from .hostkeys import KnownHosts
from .inventory import Instance
from .network import IPAddress, NetworkRules, resolve_checked, source_address

log = logging.getLogger(__name__)

CHALLENGE_TIMEOUT = 120.0
#: AES first: with AES-NI, asyncssh moves about twice the data of its
#: default ChaCha20-Poly1305 per CPU second. All are offered, so servers
#: that allow only some still connect.
ENCRYPTION_ALGS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "chacha20-poly1305@openssh.com",
    "aes192-ctr",
)


@dataclass
class LoginChallenge:
    """Keyboard-interactive prompts that the instance asks the user to answer."""

    name: str
    instructions: str
    prompts: list[tuple[str, bool]]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        """Return the challenge as JSON-ready data."""
        return {
            "status": "challenge",
            "challenge": self.id,
            "name": self.name,
            "instructions": self.instructions,
            "prompts": [{"prompt": p, "echo": e} for p, e in self.prompts],
        }


class Attempt:
    """The state of one connection attempt shared with its asyncssh client.

    Holds the host key the server presented (to explain a refusal) and
    hands keyboard-interactive prompts to whoever waits on `challenges`.
    """

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.presented_key: asyncssh.SSHKey | None = None
        self.challenges: asyncio.Queue[LoginChallenge] = asyncio.Queue()
        self._answer: asyncio.Future[list[str]] | None = None
        self.waiting_for_user = False

    async def ask(self, challenge: LoginChallenge) -> list[str] | None:
        """Publish *challenge* and wait for the user's answers."""
        self._answer = asyncio.get_running_loop().create_future()
        await self.challenges.put(challenge)
        self.waiting_for_user = True
        try:
            return await asyncio.wait_for(self._answer, CHALLENGE_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            self.waiting_for_user = False

    def answer(self, responses: list[str]) -> None:
        """Deliver the user's answers to the waiting prompt."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(responses)


class WorkbenchClient(asyncssh.SSHClient):
    """The asyncssh client side of one attempt, and later of its connection."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self.lost_reason: str | None = None
        self.on_lost: list[Callable[[str], None]] = []

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        # Called only for keys that known_hosts did not trust: remember the
        # key so the refusal can name its fingerprint, and refuse it.
        self._attempt.presented_key = key
        return False

    def kbdint_auth_requested(self) -> Any:
        credentials = self._attempt.credentials
        if credentials.password is not None:
            return NotImplemented  # asyncssh answers password prompts itself
        if credentials.interactive and credentials.method == "keyboard-interactive":
            return ""
        return None

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Any
    ) -> list[str] | None:
        if not prompts:
            return []
        challenge = LoginChallenge(
            name, instructions, [(p, bool(e)) for p, e in prompts]
        )
        return await self._attempt.ask(challenge)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_reason = str(exc) if exc else "closed"
        for callback in self.on_lost:
            callback(self.lost_reason)


@dataclass
class Connector:
    """Settings shared by every connection the gateway opens."""

    rules: NetworkRules
    connect_timeout: float = 10.0
    handshake_timeout: float = 20.0
    keepalive_interval: float = 30.0
    keepalive_count_max: int = 3

    async def open(
        self,
        instance: Instance,
        attempt: Attempt,
        known_hosts: KnownHosts,
        *,
        tunnel: asyncssh.SSHClientConnection | None = None,
    ) -> tuple[asyncssh.SSHClientConnection, WorkbenchClient]:
        """Connect to *instance* and log in with the attempt's credentials.

        Raises
        ------
        WorkbenchError
            A subclass that names the failure: see `errors`.
        """
        address, rule = await resolve_checked(instance.host, instance.port, self.rules)
        log.debug(
            "Connecting to %s at %s:%s (%s)",
            instance.name,
            address,
            instance.port,
            rule,
        )

        agent, agent_keys = (
            await open_agent() if attempt.credentials.agent else (None, [])
        )
        try:
            return await self._login(
                instance, address, attempt, known_hosts, tunnel, agent_keys
            )
        finally:
            if agent is not None:
                agent.close()
                await agent.wait_closed()

    async def _login(
        self,
        instance: Instance,
        address: IPAddress,
        attempt: Attempt,
        known_hosts: KnownHosts,
        tunnel: asyncssh.SSHClientConnection | None,
        agent_keys: list[Any],
    ) -> tuple[asyncssh.SSHClientConnection, WorkbenchClient]:
        client = WorkbenchClient(attempt)
        options = attempt.credentials.connect_options(agent_keys)
        trusted = known_hosts.trusted(instance.host, instance.port)
        sock = None if tunnel else await self._tcp_connect(instance, address)
        try:
            connecting = asyncssh.connect(
                str(address),
                instance.port,
                sock=sock,
                tunnel=tunnel or (),
                client_factory=lambda: client,
                known_hosts=(trusted, [], []),
                config=None,
                login_timeout=CHALLENGE_TIMEOUT + 30,
                keepalive_interval=self.keepalive_interval,
                keepalive_count_max=self.keepalive_count_max,
                encryption_algs=ENCRYPTION_ALGS,
                **options,
            )
            conn = await self._watch(connecting, attempt, instance, address)
        except Exception as exc:
            if sock is not None:
                sock.close()
            raise self._classify(exc, instance, address, attempt, known_hosts) from None
        return conn, client

    async def _watch(
        self,
        connecting: Awaitable[asyncssh.SSHClientConnection],
        attempt: Attempt,
        instance: Instance,
        address: IPAddress,
    ) -> asyncssh.SSHClientConnection:
        """Give the handshake ``handshake_timeout`` seconds, not counting the
        time a user takes to answer keyboard-interactive prompts, so that a
        host that accepts TCP and then hangs fails instead of stalling."""
        task = asyncio.ensure_future(connecting)
        while True:
            try:
                done, _ = await asyncio.wait({task}, timeout=self.handshake_timeout)
            except asyncio.CancelledError:
                task.cancel()  # the caller gave up: do not leave the handshake running
                raise
            if done:
                return task.result()
            if not attempt.waiting_for_user:
                task.cancel()
                source = source_address(address, instance.port)
                raise Unreachable(
                    f"{address}:{instance.port} accepted the connection from {source} but "
                    f"did not complete the SSH handshake within {self.handshake_timeout:g} s: "
                    "the host may be overloaded or hung, or the port may not be sshd",
                    reason="timeout",
                    address=str(address),
                    port=instance.port,
                    source=source,
                )

    async def _tcp_connect(
        self, instance: Instance, address: IPAddress
    ) -> socket.socket:
        # The TCP connect is timed on its own, because asyncssh's
        # connect_timeout would also cover the user typing a one-time code.
        loop = asyncio.get_running_loop()
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(
                loop.sock_connect(sock, (str(address), instance.port)),
                self.connect_timeout,
            )
        except BaseException as exc:
            sock.close()
            if isinstance(exc, Exception):
                raise self._classify(exc, instance, address, None, None) from None
            raise
        return sock

    def _classify(
        self,
        exc: BaseException,
        instance: Instance,
        address: IPAddress,
        attempt: Attempt | None,
        known_hosts: KnownHosts | None,
    ) -> WorkbenchError:
        where = f"{address}:{instance.port}"
        if isinstance(exc, WorkbenchError):
            return exc
        if isinstance(exc, asyncssh.HostKeyNotVerifiable) and attempt and known_hosts:
            if attempt.presented_key is not None:
                try:
                    known_hosts.check(
                        instance.host, instance.port, attempt.presented_key
                    )
                except WorkbenchError as refusal:
                    return refusal
        if isinstance(exc, asyncssh.PermissionDenied):
            return _auth_failed(instance, attempt)
        if isinstance(exc, ConnectionRefusedError):
            return Unreachable(
                f"Connection refused by {where}: nothing listens on port {instance.port}. "
                "Check that sshd runs on the instance and that the port is right",
                reason="refused",
                address=str(address),
                port=instance.port,
            )
        if isinstance(exc, TimeoutError):
            source = source_address(address, instance.port)
            return Unreachable(
                f"Connection timed out to {where} from {source}: allow TCP "
                f"{instance.port} from {source} in the instance's security group or "
                "firewall, and check that the instance is running",
                reason="timeout",
                address=str(address),
                port=instance.port,
                source=source,
            )
        if isinstance(exc, OSError) and exc.errno in (
            errno.ENETUNREACH,
            errno.EHOSTUNREACH,
        ):
            return Unreachable(
                f"No route from the gateway to {where} ({exc.strerror}): check the "
                "gateway's network and the instance's address",
                reason="no_route",
                address=str(address),
                port=instance.port,
            )
        if isinstance(exc, (asyncssh.ConnectionLost, ConnectionResetError, EOFError)):
            return Unreachable(
                f"{where} closed the connection before login finished: check that it is "
                "an SSH server and that it accepts connections from the gateway",
                reason="reset",
                address=str(address),
                port=instance.port,
            )
        if isinstance(exc, asyncssh.Error):
            return SSHError(
                f"SSH to {instance.name} ({where}) failed: {exc.reason}",
                address=str(address),
                port=instance.port,
            )
        if isinstance(exc, OSError):
            return Unreachable(
                f"Could not connect to {where}: {exc.strerror or exc}",
                reason="os",
                address=str(address),
                port=instance.port,
            )
        log.error("Unexpected failure connecting to %s", instance.name, exc_info=exc)
        return SSHError(
            f"SSH to {instance.name} ({where}) failed unexpectedly: {exc!r}"
        )


def _auth_failed(instance: Instance, attempt: Attempt | None) -> AuthenticationFailed:
    method = attempt.credentials.method if attempt else "unknown"
    user = attempt.credentials.username if attempt else "?"
    advice = {
        "password": "check the user name and password",
        "publickey": "check the user name, and that the key's public half is in "
        "~/.ssh/authorized_keys on the instance",
        "agent": "check the user name, and that one of the agent's keys is authorized "
        "on the instance",
        "keyboard-interactive": "check the user name and the answers to the prompts",
    }[method]
    return AuthenticationFailed(
        f"Authentication failed for {user}@{instance.name} using {method}: {advice}",
        method=method,
        username=user,
        instance=instance.name,
    )
