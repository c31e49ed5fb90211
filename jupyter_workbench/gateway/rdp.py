"""Remote desktops (RDP) through guacd: pending sessions and the guacd side of a tunnel.

A browser never sees the Windows credentials. It asks the server for a
desktop (`RDPService.create`, with user, password and domain), gets back a
random session id that is good for one tunnel, for one principal, for a
short while, and opens the tunnel with that id. The server then connects
to guacd itself and hands it the credentials in the handshake.

The instance's address is resolved and checked against the network rules
here, and guacd is told to connect to the checked address, so guacd cannot
be used to reach what the gateway itself may not.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .audit import AuditLog
from .errors import InstanceNotFound, WorkbenchError
from .guacamole import Display, GuacdConnection
from .inventory import Instance, Inventory
from .network import NetworkRules, resolve_checked
from .policy import CONNECT_RDP

log = logging.getLogger(__name__)

#: Seconds a created session waits for its tunnel before it is dropped.
SESSION_TTL = 60.0
SECURITY_MODES = ("any", "nla", "nla-ext", "tls", "vmconnect", "rdp")

#: The policy hook: raises to refuse; its return value is ignored (awaited if
#: it is awaitable).
Authorize = Callable[[str, str, Instance], Any]


class RDPNotSupported(WorkbenchError):
    """The instance cannot be opened as a remote desktop."""

    code = "bad_request"


class RDPSessionNotFound(InstanceNotFound):
    """No pending desktop with that id for this principal (used, expired, or never made)."""

    code = "not_found"


@dataclass(frozen=True)
class RDPConfig:
    """Where guacd runs and how desktops are opened."""

    guacd_host: str = "127.0.0.1"
    guacd_port: int = 4822
    connect_timeout: float = 10.0
    handshake_timeout: float = 30.0
    security: str = "any"
    ignore_cert: bool = True
    extra_parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class RDPRequest:
    """A desktop asked for and not yet opened: the secret stays in here."""

    id: str
    principal: str
    instance: Instance
    username: str
    password: str = field(repr=False)
    domain: str = ""
    display: Display = field(default_factory=Display)
    created: float = field(default_factory=time.monotonic)
    #: When the desktop opened (monotonic seconds), for the audit's duration.
    opened: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return what the browser may know about the request (no secret)."""
        return {
            "id": self.id,
            "instance": self.instance.name,
            "username": self.username,
            "domain": self.domain,
            "width": self.display.width,
            "height": self.display.height,
            "dpi": self.display.dpi,
        }


class RDPService:
    """Pending desktops of every principal, and the connection to guacd.

    Parameters
    ----------
    inventory
        Where instance names are looked up.
    rules
        Network rules for the instances' addresses and for guacd's.
    config
        guacd's address and connection settings.
    authorize
        Called with (principal, action, instance) before a desktop is
        created; raises to refuse (the policy hook; none means allowed).
    audit
        Where desktops opened and closed are recorded (none: not recorded).
    """

    def __init__(
        self,
        inventory: Inventory,
        rules: NetworkRules,
        config: RDPConfig,
        *,
        authorize: Authorize | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.inventory = inventory
        self.rules = rules
        self.config = config
        self.authorize = authorize
        self.audit = audit
        self._pending: dict[str, RDPRequest] = {}

    async def create(
        self,
        principal: str,
        name: str,
        *,
        username: str,
        password: str,
        domain: str = "",
        display: Display | None = None,
    ) -> RDPRequest:
        """Record a desktop request for *principal* and return it.

        Raises
        ------
        InstanceNotFound
            When no instance is called *name*.
        RDPNotSupported
            When the instance is not an RDP instance or needs a jump host.
        PolicyDenied
            When the authorize hook refuses.
        NetworkRefused, Unreachable
            When the instance's address is refused by the rules or does not
            resolve (checked now, and again when the tunnel opens).
        """
        instance = self.inventory.get(name)
        if instance.protocol != "rdp":
            raise RDPNotSupported(
                f"{instance.name} is an {instance.protocol.upper()} instance; open a "
                "terminal on it instead of a remote desktop",
                instance=instance.name,
            )
        if instance.jump:
            raise RDPNotSupported(
                f"{instance.name} is reached through the jump host {instance.jump}; "
                "remote desktops through jump hosts are not supported: give guacd a "
                "direct route and remove 'jump'",
                instance=instance.name,
            )
        await self._authorize(principal, instance)
        await resolve_checked(instance.host, instance.port, self.rules)

        self._expire()
        request = RDPRequest(
            id=secrets.token_hex(16),
            principal=principal,
            instance=instance,
            username=username,
            password=password,
            domain=domain,
            display=display or Display(),
        )
        self._pending[request.id] = request
        log.info(
            "Remote desktop to %s as %s requested by %s",
            instance.name,
            username or "(no user)",
            principal,
        )
        return request

    def claim(self, principal: str, session_id: str) -> RDPRequest:
        """Take the pending request *session_id* of *principal*; it is single-use.

        Raises
        ------
        RDPSessionNotFound
            When there is no such request for this principal, it was used,
            or it expired.
        """
        self._expire()
        request = self._pending.get(session_id)
        if request is None or request.principal != principal:
            raise RDPSessionNotFound(
                "This remote desktop link was used already or has expired; open the "
                "desktop again from the instance",
                session=session_id,
            )
        del self._pending[session_id]
        return request

    def pending(self, principal: str) -> list[RDPRequest]:
        """Return the principal's requests waiting for their tunnel."""
        self._expire()
        return [r for r in self._pending.values() if r.principal == principal]

    async def open(
        self, request: RDPRequest, display: Display | None = None
    ) -> GuacdConnection:
        """Connect to guacd and run the RDP handshake for *request*.

        *display* overrides the size in the request (the page measures its
        panel when it connects).

        Raises
        ------
        GuacdUnreachable
            When guacd cannot be reached.
        GuacdError
            When guacd refuses (credentials, unreachable server, ...).
        NetworkRefused, PolicyDenied
            When the instance's address or the desktop is no longer allowed.
        """
        instance = request.instance
        # Checked again: policies and rules may have changed since `create`.
        await self._authorize(request.principal, instance)
        try:
            guacd = await self._connect(request, display or request.display)
        except WorkbenchError as exc:
            self._record(request, "rdp_open", "failed", error=exc.code)
            raise
        request.opened = time.monotonic()
        self._record(request, "rdp_open", "ok", mode="guacd")
        return guacd

    def handed_over(self, request: RDPRequest, webapp: str) -> None:
        """Record a desktop opened in a Guacamole web app (its end is not seen here)."""
        self._record(request, "rdp_open", "ok", mode="webapp", webapp=webapp)

    def closed(self, request: RDPRequest, reason: str = "closed") -> None:
        """Record the end of a desktop that `open` opened, with its duration."""
        if request.opened is None:
            return
        duration = round(time.monotonic() - request.opened, 3)
        request.opened = None
        self._record(request, "rdp_close", "ok", duration=duration, reason=reason)

    async def _connect(self, request: RDPRequest, display: Display) -> GuacdConnection:
        instance = request.instance
        address, _rule = await resolve_checked(instance.host, instance.port, self.rules)
        guacd = await GuacdConnection.open(
            self.config.guacd_host,
            self.config.guacd_port,
            rules=self.rules,
            timeout=self.config.connect_timeout,
        )
        try:
            await guacd.handshake(
                "rdp",
                self.parameters(request, str(address), display),
                display,
                timeout=self.config.handshake_timeout,
            )
        except BaseException:
            guacd.close()
            await guacd.wait_closed()
            raise
        return guacd

    def _record(
        self, request: RDPRequest, event: str, outcome: str, **fields: Any
    ) -> None:
        if self.audit is None:
            return
        self.audit.record(
            event,
            principal=request.principal,
            instance=request.instance.name,
            outcome=outcome,
            login_user=request.username,
            domain=request.domain or None,
            desktop=request.id,
            **fields,
        )

    def parameters(
        self, request: RDPRequest, address: str, display: Display
    ) -> dict[str, str]:
        """Return guacd's RDP connection parameters for *request*."""
        instance = request.instance
        parameters = {
            "hostname": address,
            "port": str(instance.port),
            "username": request.username,
            "password": request.password,
            "domain": request.domain,
            "security": self.config.security,
            "ignore-cert": "true" if self.config.ignore_cert else "false",
            "width": str(display.width),
            "height": str(display.height),
            "dpi": str(display.dpi),
            # The display follows the panel: RDP's display-update channel
            # resizes the Windows desktop instead of reconnecting.
            "resize-method": "display-update",
            "client-name": "jupyter-workbench",
        }
        parameters.update(self.config.extra_parameters)
        return parameters

    async def _authorize(self, principal: str, instance: Instance) -> None:
        if self.authorize is None:
            return
        outcome = self.authorize(principal, CONNECT_RDP, instance)
        if inspect.isawaitable(outcome):
            await outcome

    def _expire(self) -> None:
        limit = time.monotonic() - SESSION_TTL
        for key in [k for k, r in self._pending.items() if r.created < limit]:
            del self._pending[key]
