"""Who may do what: policies, administrators, audit, recordings and the gateway key.

`Access` bundles the pieces the `Gateway` consults before it acts and
records after: the `PolicyStore`, the administrators, the `AuditLog`, the
terminal `Recordings` and the `GatewayKey`. The server tells it the groups
of each principal (from the Jupyter identity) with `set_groups`; groups
from config and from the policy file are added to those.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audit import AuditLog
from .errors import AdminRequired
from .gatewaykey import GatewayKey
from .inventory import Instance
from .policy import ACTIONS, Decision, Policy, PolicyStore, require
from .recording import Recordings

log = logging.getLogger(__name__)


@dataclass
class AccessConfig:
    """Settings of `Access`; the server fills it from traitlets."""

    policies: list[Policy] = field(default_factory=list)
    policy_file: Path | None = None
    groups: dict[str, set[str]] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)
    audit_file: Path | None = None
    record_terminals: bool = False


class Access:
    """Policy decisions, administrators, audit, recordings and the gateway key.

    Parameters
    ----------
    config
        Policies, administrators and switches.
    data_dir
        Where the audit log (by default), recordings and the key live.
    """

    def __init__(self, config: AccessConfig, data_dir: Path) -> None:
        self.config = config
        self.policy = PolicyStore(
            list(config.policies), config.policy_file, dict(config.groups)
        )
        self.audit = AuditLog(config.audit_file or data_dir / "audit.jsonl")
        self.recordings = Recordings(data_dir / "recordings")
        self.gateway_key = GatewayKey(data_dir / "gateway_key")
        self._groups: dict[str, frozenset[str]] = {}

    def set_groups(self, principal: str, groups: Iterable[str]) -> None:
        """Remember the groups the identity provider reports for *principal*."""
        self._groups[principal] = frozenset(groups)

    def groups(self, principal: str) -> set[str]:
        """Return the principal's groups: identity, config and policy file."""
        return {*self._groups.get(principal, ()), *self.policy.groups_of(principal)}

    def decide(
        self,
        principal: str,
        action: str,
        instance: Instance,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Evaluate the policies without raising or recording.

        *context* holds the request's condition keys (``policy.CONDITION_KEYS``).
        """
        groups = self.groups(principal)
        return self.policy.decide(principal, groups, action, instance, context)

    def authorize(
        self,
        principal: str,
        action: str,
        instance: Instance,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Return the allowing decision, or record the denial and raise.

        Raises
        ------
        PolicyDenied
            Naming the statement that denied, or saying none allowed.
        """
        decision = self.decide(principal, action, instance, context)
        if not decision.allowed:
            log.warning(
                "Denied %s for %s on %s: %s",
                action,
                principal,
                instance.name,
                decision.reason,
            )
            self.audit.record(
                "denied",
                principal=principal,
                instance=instance.name,
                outcome="denied",
                action=action,
                policy=decision.policy,
                statement=decision.statement,
                reason=decision.reason,
            )
        require(decision, principal, instance)
        return decision

    def allowed_actions(self, principal: str, instance: Instance) -> list[str]:
        """Return the actions the principal may do on *instance*."""
        return [a for a in ACTIONS if self.decide(principal, a, instance).allowed]

    def is_admin(self, principal: str) -> bool:
        """Return whether *principal* is a workbench administrator."""
        return principal in self.config.admins

    def require_admin(self, principal: str, what: str) -> None:
        """Raise unless *principal* is an administrator.

        Raises
        ------
        AdminRequired
            Saying who the administrators are configured by.
        """
        if self.is_admin(principal):
            return
        self.audit.record("denied", principal=principal, outcome="denied", action=what)
        raise AdminRequired(
            f"Only a workbench administrator may {what}; administrators are listed in "
            "WorkbenchApp.admin_users (the server's owner is one in owner mode)",
            action=what,
        )
