"""One-off SSH connections outside the pool, through jump hosts as ProxyJump does.

Authorizing an instance for the gateway key logs in once with a password
that must not be kept: the connection is opened, used and closed, and never
becomes a pooled login. Behind a jump host the principal's own login on the
jump host carries it when there is one (it takes one channel, as a session
would); otherwise the same credentials log in to the jump host for this one
connection too, as OpenSSH's ProxyJump does with one identity.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncssh

from .connect import Attempt, Connector
from .credentials import Credentials
from .errors import HostKeyUnknown, SSHError
from .hostkeys import KnownHosts
from .inventory import Instance, Inventory
from .pool import ConnectionPool


@contextlib.asynccontextmanager
async def connect_once(
    principal: str,
    instance: Instance,
    credentials: Credentials,
    *,
    pool: ConnectionPool,
    connector: Connector,
    inventory: Inventory,
    known_hosts: KnownHosts,
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """Connect to *instance* with *credentials* for the block, then close.

    A host key seen for the first time is remembered in the pool's
    ``host_key_attempts``, so that the user can confirm it as after a login.

    Raises
    ------
    WorkbenchError
        As a login: `HostKeyUnknown`, `HostKeyChanged`,
        `AuthenticationFailed`, `Unreachable`, `NetworkRefused`, for the
        instance or its jump host; `SSHError` for a jump loop.
    """
    async with contextlib.AsyncExitStack() as stack:
        tunnel = None
        if instance.jump:
            inventory.route(instance.name)  # refuses loops before connecting
            jump = inventory.get(instance.jump)
            if jump.name == instance.name:
                raise SSHError(
                    f"Instance {instance.name} names itself as its jump host"
                )
            if pool.login_for(principal, jump.name) is not None:
                tunnel, lease = await pool.open_session(principal, jump.name, _itself)
                stack.callback(lease.release)
            else:
                tunnel = await stack.enter_async_context(
                    connect_once(
                        principal,
                        jump,
                        credentials,
                        pool=pool,
                        connector=connector,
                        inventory=inventory,
                        known_hosts=known_hosts,
                    )
                )
        attempt = Attempt(credentials)
        try:
            conn, _client = await connector.open(
                instance, attempt, known_hosts, tunnel=tunnel
            )
        except HostKeyUnknown:
            if attempt.presented_key is not None:
                where = (principal, instance.host, instance.port)
                pool.host_key_attempts[where] = attempt.presented_key
            raise
        stack.push_async_callback(_close, conn)
        yield conn


async def _itself(
    conn: asyncssh.SSHClientConnection,
) -> asyncssh.SSHClientConnection:
    return conn


async def _close(conn: asyncssh.SSHClientConnection) -> None:
    conn.close()
    await conn.wait_closed()


__all__ = ["connect_once"]
