"""Step-by-step reachability diagnosis: resolve, route, TCP, SSH, auth."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import asyncssh

from .errors import WorkbenchError
from .hostkeys import KnownHosts, fingerprint
from .inventory import Instance
from .network import IPAddress, NetworkRules, resolve, source_address

STEPS = ("resolve", "route", "tcp", "ssh", "auth")


@dataclass
class Step:
    """The outcome of one step; ``ok`` is None when the step was not tried."""

    step: str
    ok: bool | None
    detail: str
    hint: str = ""


@dataclass
class Diagnosis:
    """Every step of reaching an instance, in order."""

    instance: str
    steps: list[Step]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "ok": self.ok,
            "steps": [asdict(s) for s in self.steps],
        }

    def __str__(self) -> str:
        marks = {True: "ok", False: "FAILED", None: "-"}
        lines = [f"{self.instance}: {'reachable' if self.ok else 'not ready'}"]
        for step in self.steps:
            lines.append(f"  {step.step:<8} {marks[step.ok]:<7} {step.detail}")
            if step.hint:
                lines.append(f"  {'':<16} {step.hint}")
        return "\n".join(lines)


async def diagnose(
    instance: Instance,
    rules: NetworkRules,
    known_hosts: KnownHosts,
    *,
    login_user: str | None,
    jumps: Sequence[Instance] = (),
    timeout: float = 5.0,
) -> Diagnosis:
    """Walk the steps of reaching *instance* and stop at the first failure.

    With *jumps* (its jump hosts, nearest first), every hop is resolved and
    checked against the rules, and TCP and SSH are tried on the outermost
    jump host, which is the one the gateway connects to; the hops behind it
    are reached through it at login.
    """
    steps: list[Step] = []
    hops = [instance, *jumps]

    def rest(after: str) -> Diagnosis:
        for name in STEPS[STEPS.index(after) + 1 :]:
            steps.append(Step(name, None, "not tried"))
        return Diagnosis(instance.name, steps)

    resolved: list[list[IPAddress]] = []
    for hop in hops:
        try:
            resolved.append(await resolve(hop.host, hop.port))
        except WorkbenchError as exc:
            steps.append(Step("resolve", False, _via(hop, instance, exc.message)))
            return rest("resolve")
    shown = "; ".join(
        _via(hop, instance, f"{hop.host} → {', '.join(str(a) for a in addresses)}")
        for hop, addresses in zip(hops, resolved, strict=True)
    )
    steps.append(Step("resolve", True, shown))

    allowed = []
    for hop, addresses in zip(hops, resolved, strict=True):
        try:
            rule = [rules.check(a, hop.port) for a in addresses][0]
        except WorkbenchError as exc:
            hint = f"rule: {exc.details.get('rule')}"
            steps.append(Step("route", False, _via(hop, instance, exc.message), hint))
            return rest("route")
        allowed.append(
            _via(
                hop,
                instance,
                f"{addresses[0]} port {hop.port} allowed by rule '{rule}'",
            )
        )
    steps.append(Step("route", True, "; ".join(allowed)))

    first, address = hops[-1], resolved[-1][0]
    tcp = await _tcp(address, first.port, timeout)
    steps.append(_on(first, instance, tcp))
    if not tcp.ok:
        return rest("tcp")

    steps.append(_on(first, instance, await _ssh(first, address, known_hosts, timeout)))
    if not steps[-1].ok:
        return rest("ssh")

    if login_user:
        steps.append(Step("auth", True, f"logged in as {login_user}"))
    else:
        steps.append(
            Step("auth", False, "not logged in", hint="log in to the instance")
        )
    return Diagnosis(instance.name, steps)


def _via(hop: Instance, target: Instance, detail: str) -> str:
    return detail if hop is target else f"jump host {hop.name}: {detail}"


def _on(hop: Instance, target: Instance, step: Step) -> Step:
    if hop is target:
        return step
    hint = step.hint or f"{target.name} itself is reached through {hop.name} at login"
    return Step(step.step, step.ok, _via(hop, target, step.detail), hint)


async def _tcp(address: IPAddress, port: int, timeout: float) -> Step:
    source = source_address(address, port)
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(str(address), port), timeout
        )
    except TimeoutError:
        return Step(
            "tcp",
            False,
            f"Connection to {address}:{port} timed out after {timeout:g} s",
            hint=f"allow TCP {port} from {source} in the instance's security group or firewall",
        )
    except ConnectionRefusedError:
        return Step(
            "tcp",
            False,
            f"Connection refused by {address}:{port}",
            hint="check that sshd runs on the instance and listens on this port",
        )
    except OSError as exc:
        return Step("tcp", False, f"Cannot connect to {address}:{port}: {exc.strerror}")
    writer.close()
    await writer.wait_closed()
    return Step("tcp", True, f"connected to {address}:{port} from {source}")


async def _ssh(
    instance: Instance, address: IPAddress, known_hosts: KnownHosts, timeout: float
) -> Step:
    trusted_keys = known_hosts.trusted(instance.host, instance.port)
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                str(address),
                instance.port,
                config=None,
                server_host_key_algs=_algorithms(trusted_keys),
            ),
            timeout,
        )
    except TimeoutError:
        return Step(
            "ssh",
            False,
            f"{address}:{instance.port} accepted TCP but sent no SSH answer within "
            f"{timeout:g} s",
            hint="the host may be overloaded or hung, or the port may not be sshd",
        )
    except (OSError, asyncssh.Error) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        return Step(
            "ssh",
            False,
            f"No SSH server answered on {address}:{instance.port} ({reason})",
            hint="check that the port belongs to sshd",
        )
    if key is None:
        return Step("ssh", False, "The server sent no host key")
    presented = fingerprint(key)
    trusted = [fingerprint(k) for k in trusted_keys]
    if not trusted:
        return Step(
            "ssh", True, f"host key {presented} (not yet trusted: confirm it at login)"
        )
    if presented in trusted:
        return Step("ssh", True, f"host key {presented} (trusted)")
    return Step(
        "ssh",
        False,
        f"host key changed: trusted {', '.join(trusted)}, presented {presented}",
        hint="if the instance was rebuilt, remove the old key; otherwise do not connect",
    )


def _algorithms(keys: list[asyncssh.SSHKey]) -> list[str] | str:
    """Ask for the key types already trusted, so a second key type is not
    mistaken for a changed key."""
    algorithms: list[str] = []
    for key in keys:
        name = key.get_algorithm()
        algorithms += (
            ["rsa-sha2-512", "rsa-sha2-256", name] if name == "ssh-rsa" else [name]
        )
    return algorithms or "default"
