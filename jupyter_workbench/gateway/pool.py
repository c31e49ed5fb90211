"""SSH connections shared by every terminal of a principal on an instance.

A login is keyed by (principal, instance, login user). It holds the
credentials in memory and one or more connections. Each connection carries
at most ``channels_per_connection`` sessions, below OpenSSH's MaxSessions
(10 by default); when every connection is full, or the server refuses a
channel, the pool opens another connection with the same credentials.
Connections with no session for ``idle_timeout`` seconds are closed,
except the last one of a login that cannot be replayed (a
keyboard-interactive login needs the user to answer again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import asyncssh

from .connect import Attempt, Connector, LoginChallenge, WorkbenchClient
from .credentials import Credentials
from .errors import HostKeyUnknown, NotLoggedIn, SSHError, WorkbenchError
from .hostkeys import KnownHosts
from .inventory import Instance, Inventory

log = logging.getLogger(__name__)

T = TypeVar("T")
LoginKey = tuple[str, str, str]  # (principal, instance name, login user)


@dataclass
class PooledConnection:
    """One SSH connection and the number of sessions it carries."""

    conn: asyncssh.SSHClientConnection
    client: WorkbenchClient
    channels: int = 0
    full: bool = False
    idle_since: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return self.client.lost_reason is None


@dataclass
class Login:
    """A principal's login on one instance."""

    principal: str
    instance: Instance
    credentials: Credentials
    connections: list[PooledConnection] = field(default_factory=list)

    @property
    def key(self) -> LoginKey:
        return (self.principal, self.instance.name, self.credentials.username)


@dataclass
class Lease:
    """A session's hold on a pooled connection; `release` gives it back."""

    pooled: PooledConnection
    released: bool = False

    @property
    def conn(self) -> asyncssh.SSHClientConnection:
        return self.pooled.conn

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.pooled.channels -= 1
        if self.pooled.channels == 0:
            self.pooled.idle_since = time.monotonic()


@dataclass
class _PendingLogin:
    principal: str
    instance: Instance
    attempt: Attempt
    task: asyncio.Task[tuple[asyncssh.SSHClientConnection, WorkbenchClient]]


class ConnectionPool:
    """Logins and their pooled connections, for every principal.

    Parameters
    ----------
    inventory
        Resolves jump host names.
    connector
        Opens single connections.
    known_hosts
        Returns the `KnownHosts` of a principal.
    """

    def __init__(
        self,
        inventory: Inventory,
        connector: Connector,
        known_hosts: Callable[[str], KnownHosts],
        *,
        channels_per_connection: int = 10,
        idle_timeout: float = 600.0,
    ) -> None:
        self._inventory = inventory
        self._connector = connector
        self._known_hosts = known_hosts
        self.channels_per_connection = channels_per_connection
        self.idle_timeout = idle_timeout
        self._logins: dict[LoginKey, Login] = {}
        # The same logins by (principal, instance), oldest first: a batch run
        # looks up every host's login, and a scan of all logins per host
        # made a run over n hosts cost n² steps.
        self._by_instance: dict[tuple[str, str], dict[LoginKey, Login]] = {}
        self._pending: dict[str, _PendingLogin] = {}
        self._locks: dict[LoginKey, asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.host_key_attempts: dict[tuple[str, str, int], asyncssh.SSHKey] = {}

    # -- logging in ---------------------------------------------------------

    async def login(
        self, principal: str, instance: Instance, credentials: Credentials
    ) -> Login | LoginChallenge:
        """Log *principal* in to *instance*: a connected `Login` or a challenge.

        A new login replaces the principal's previous login on the instance.

        Raises
        ------
        WorkbenchError
            When the connection or the login fails.
        """
        attempt = Attempt(credentials)
        task = asyncio.create_task(self._open(principal, instance, attempt))
        return await self._progress(_PendingLogin(principal, instance, attempt, task))

    async def respond(
        self, principal: str, challenge_id: str, responses: list[str]
    ) -> Login | LoginChallenge:
        """Answer a keyboard-interactive challenge and continue the login.

        Raises
        ------
        NotLoggedIn
            When the challenge is unknown, expired, or another principal's.
        """
        pending = self._pending.pop(challenge_id, None)
        if pending is None or pending.principal != principal:
            raise NotLoggedIn("That login prompt has expired: log in again")
        pending.attempt.answer(responses)
        return await self._progress(pending)

    def pending_instance(self, principal: str, challenge_id: str) -> Instance | None:
        """Return the instance a login prompt of *principal* is for, if it is pending."""
        pending = self._pending.get(challenge_id)
        if pending is None or pending.principal != principal:
            return None
        return pending.instance

    async def abandon(self, principal: str, challenge_id: str) -> None:
        """End a pending login of *principal* without answering its prompt."""
        pending = self._pending.get(challenge_id)
        if pending is None or pending.principal != principal:
            return
        del self._pending[challenge_id]
        pending.task.cancel()
        # Wait for the attempt to close its socket before the caller goes on.
        await asyncio.gather(pending.task, return_exceptions=True)

    async def _progress(self, pending: _PendingLogin) -> Login | LoginChallenge:
        question = asyncio.create_task(pending.attempt.challenges.get())
        try:
            done, _ = await asyncio.wait(
                {pending.task, question}, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            # The caller gave up (a batch run's connect timeout): end the
            # attempt too, or it would hold its socket until the handshake
            # timeout with nobody to report to.
            question.cancel()
            pending.task.cancel()
            raise
        if question in done and not pending.task.done():
            challenge = question.result()
            self._pending[challenge.id] = pending
            pending.task.add_done_callback(
                lambda task: self._forget_pending(challenge.id, task)
            )
            return challenge

        question.cancel()
        conn, client = pending.task.result()
        login = Login(pending.principal, pending.instance, pending.attempt.credentials)
        login.connections.append(PooledConnection(conn, client))
        await self._replace(login)
        log.info(
            "Logged in %s to %s as %s using %s",
            pending.principal,
            pending.instance.name,
            login.credentials.username,
            login.credentials.method,
        )
        self._start_reaper()
        return login

    def _forget_pending(self, challenge_id: str, task: asyncio.Task[object]) -> None:
        # An abandoned prompt ends the attempt after CHALLENGE_TIMEOUT; its
        # failure has nobody left to report to.
        if self._pending.get(challenge_id) and self._pending[challenge_id].task is task:
            del self._pending[challenge_id]
            if not task.cancelled() and task.exception() is not None:
                log.info("An unanswered login prompt expired")

    async def _replace(self, login: Login) -> None:
        key = login.key
        old = self._logins.pop(key, None)
        self._logins[key] = login  # re-inserted: the newest login comes last
        same = self._by_instance.setdefault(key[:2], {})
        same.pop(key, None)
        same[key] = login
        if old is not None:
            await _close_all(old)

    async def _open(
        self, principal: str, instance: Instance, attempt: Attempt
    ) -> tuple[asyncssh.SSHClientConnection, WorkbenchClient]:
        tunnel = None
        if instance.jump:
            self._inventory.route(instance.name)  # refuses loops before connecting
            tunnel = await self._tunnel(principal, instance, attempt.credentials)
        known_hosts = self._known_hosts(principal)
        try:
            return await self._connector.open(
                instance, attempt, known_hosts, tunnel=tunnel
            )
        except HostKeyUnknown:
            # Only a first-contact key may be confirmed later; a changed key
            # is refused outright and never offered for acceptance.
            if attempt.presented_key is not None:
                where = (principal, instance.host, instance.port)
                self.host_key_attempts[where] = attempt.presented_key
            raise

    async def _tunnel(
        self, principal: str, instance: Instance, credentials: Credentials
    ) -> asyncssh.SSHClientConnection:
        """Return a connection to the jump host of *instance*.

        The principal's own login on the jump host is used when there is
        one; otherwise the same credentials are tried there, as OpenSSH's
        ProxyJump does with one identity.
        """
        jump = self._inventory.get(instance.jump or "")
        if jump.name == instance.name:
            raise SSHError(f"Instance {instance.name} names itself as its jump host")
        existing = self.login_for(principal, jump.name)
        if existing is not None:
            pooled = await self._connection(existing)
            return pooled.conn
        if not credentials.replayable:
            raise NotLoggedIn(
                f"Log in to the jump host {jump.name} first, then to {instance.name}",
                instance=jump.name,
            )
        outcome = await self.login(principal, jump, credentials)
        if isinstance(outcome, LoginChallenge):
            raise NotLoggedIn(
                f"Log in to the jump host {jump.name} first", instance=jump.name
            )
        return outcome.connections[0].conn

    # -- using connections ------------------------------------------------

    def login_for(
        self, principal: str, instance_name: str, username: str | None = None
    ) -> Login | None:
        """Return the principal's login on the instance as *username*.

        Without *username*, the most recent login on the instance.
        """
        if username is not None:
            return self._logins.get((principal, instance_name, username))
        found = self._by_instance.get((principal, instance_name))
        return next(reversed(found.values())) if found else None

    def logins(self, principal: str, instance_name: str) -> list[Login]:
        """Return every login of the principal on the instance, oldest first."""
        return list(self._by_instance.get((principal, instance_name), {}).values())

    async def open_session(
        self,
        principal: str,
        instance_name: str,
        opener: Callable[[asyncssh.SSHClientConnection], Awaitable[T]],
        *,
        username: str | None = None,
    ) -> tuple[T, Lease]:
        """Run *opener* on a pooled connection with a free session slot.

        Returns what *opener* returned and the `Lease` to release when the
        session ends. *username* picks the login when the principal is
        logged in to the instance as several users; by default the latest.

        Raises
        ------
        NotLoggedIn
            When the principal has no login on the instance.
        """
        login = self.login_for(principal, instance_name, username)
        if login is None:
            raise NotLoggedIn(
                f"Log in to {instance_name} before opening a session",
                instance=instance_name,
            )

        for _ in range(3):
            pooled = await self._connection(login)
            pooled.channels += 1
            lease = Lease(pooled)
            try:
                return await opener(pooled.conn), lease
            except asyncssh.ChannelOpenError as exc:
                lease.release()
                pooled.full = True
                log.info(
                    "%s refused a session (%s): opening another connection",
                    instance_name,
                    exc.reason,
                )
            except BaseException:
                lease.release()
                raise
        raise SSHError(
            f"{instance_name} refused to open a session on three connections"
        )

    async def _connection(self, login: Login) -> PooledConnection:
        async with self._locks.setdefault(login.key, asyncio.Lock()):
            login.connections = [c for c in login.connections if c.alive]
            for pooled in login.connections:
                if not pooled.full and pooled.channels < self.channels_per_connection:
                    return pooled
            if not login.credentials.replayable:
                raise NotLoggedIn(
                    f"Every connection to {login.instance.name} is busy or gone, and a "
                    "keyboard-interactive login cannot be repeated silently: log in again",
                    instance=login.instance.name,
                )
            conn, client = await self._open(
                login.principal, login.instance, Attempt(login.credentials)
            )
            pooled = PooledConnection(conn, client)
            login.connections.append(pooled)
            log.info(
                "Opened connection %d to %s for %s",
                len(login.connections),
                login.instance.name,
                login.principal,
            )
            return pooled

    # -- closing ----------------------------------------------------------

    async def logout(
        self, principal: str, instance_name: str, username: str | None = None
    ) -> bool:
        """Close the principal's connections to the instance and forget the login.

        Without *username*, every login of the principal on the instance.
        """
        logins = self.logins(principal, instance_name)
        if username is not None:
            logins = [
                login for login in logins if login.credentials.username == username
            ]
        for login in logins:
            del self._logins[login.key]
            same = self._by_instance[login.key[:2]]
            del same[login.key]
            if not same:
                del self._by_instance[login.key[:2]]
            await _close_all(login)
            log.info(
                "Logged out %s from %s as %s",
                principal,
                instance_name,
                login.credentials.username,
            )
        return bool(logins)

    async def close(self) -> None:
        """Close every connection and abandon pending logins."""
        if self._reaper is not None:
            self._reaper.cancel()
        for pending in self._pending.values():
            pending.task.cancel()
        self._pending.clear()
        logins, self._logins = list(self._logins.values()), {}
        self._by_instance.clear()
        await asyncio.gather(*(_close_all(login) for login in logins))

    def reap_idle(self, now: float | None = None) -> int:
        """Close connections idle for longer than ``idle_timeout``; return how many."""
        now = time.monotonic() if now is None else now
        closed = 0
        for login in self._logins.values():
            keep_one = not login.credentials.replayable
            for pooled in list(login.connections):
                idle = (
                    pooled.channels == 0 and now - pooled.idle_since > self.idle_timeout
                )
                if not idle or (keep_one and len(login.connections) == 1):
                    continue
                pooled.conn.close()
                login.connections.remove(pooled)
                closed += 1
        return closed

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, min(60.0, self.idle_timeout / 4)))
            closed = self.reap_idle()
            if closed:
                log.info("Closed %d idle SSH connections", closed)


async def _close_all(login: Login) -> None:
    for pooled in login.connections:
        pooled.conn.close()
    await asyncio.gather(
        *(p.conn.wait_closed() for p in login.connections), return_exceptions=True
    )
    login.connections.clear()


__all__ = ["ConnectionPool", "Lease", "Login", "PooledConnection", "WorkbenchError"]
