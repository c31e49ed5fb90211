"""Which addresses the gateway may reach, checked after DNS resolution.

The gateway never connects to a name: it resolves the name once, turns
every answer into an `ipaddress` object (unwrapping IPv4 addresses carried
inside IPv6 ones), checks each against the rules, and connects to the
address it checked. That closes the usual ways around an address filter:
odd spellings (``0x7f.1``, ``2130706433``), IPv4-mapped IPv6, and a DNS
answer that changes between the check and the connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import NetworkRefused, Unreachable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata services and link-local ranges: reaching them from a
#: shared gateway would hand out the gateway host's own cloud credentials.
DEFAULT_DENY = (
    "169.254.169.254/32",
    "100.100.100.200/32",
    "fd00:ec2::254/128",
    "169.254.0.0/16",
    "fe80::/10",
)
DEFAULT_ALLOW = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class Rule:
    """Allow or deny a network and a port range."""

    action: str
    network: IPNetwork
    first_port: int = 1
    last_port: int = 65535

    @classmethod
    def parse(cls, action: str, text: str) -> Rule:
        """Parse ``"10.0.0.0/8"``, ``"10.0.0.0/8 22"`` or ``"::/0 22-2222"``.

        Raises
        ------
        ValueError
            When the network or port range is malformed.
        """
        network_text, _, ports = text.strip().partition(" ")
        network = ipaddress.ip_network(network_text.strip(), strict=False)
        first, last = 1, 65535
        ports = ports.strip()
        if ports:
            low, dash, high = ports.partition("-")
            first, last = int(low), int(high if dash else low)
            if not 0 < first <= last < 65536:
                raise ValueError(f"bad port range {ports!r} in rule {text!r}")
        return cls(action, network, first, last)

    def matches(self, address: IPAddress, port: int) -> bool:
        """Return whether the rule covers *address* and *port*."""
        return (
            address.version == self.network.version
            and address in self.network
            and self.first_port <= port <= self.last_port
        )

    def __str__(self) -> str:
        ports = (
            ""
            if (self.first_port, self.last_port) == (1, 65535)
            else (
                f" port {self.first_port}"
                if self.first_port == self.last_port
                else f" ports {self.first_port}-{self.last_port}"
            )
        )
        return f"{self.action} {self.network}{ports}"


class NetworkRules:
    """An allow-list and a deny-list; a deny always wins.

    Parameters
    ----------
    allow
        Rules in `Rule.parse` form that may be reached; default: everything.
    deny
        Rules that may never be reached; default: cloud metadata services
        and link-local addresses.
    """

    def __init__(
        self,
        allow: Iterable[str] = DEFAULT_ALLOW,
        deny: Iterable[str] = DEFAULT_DENY,
    ) -> None:
        self.allow = [Rule.parse("allow", text) for text in allow]
        self.deny = [Rule.parse("deny", text) for text in deny]

    def check(self, address: IPAddress, port: int) -> Rule:
        """Return the allow rule that admits *address*:*port*.

        Raises
        ------
        NetworkRefused
            When a deny rule matches, or no allow rule does.
        """
        candidates = [address, *_embedded_ipv4(address)]
        if any(a.is_unspecified or a.is_multicast for a in candidates):
            raise NetworkRefused(
                f"{address} is not a host address; name the instance's own address",
                address=str(address),
                port=port,
                rule="unspecified or multicast",
            )
        for candidate in candidates:
            for rule in self.deny:
                if rule.matches(candidate, port):
                    raise NetworkRefused(
                        f"The gateway's network rules refuse {address} port {port} "
                        f"(rule: {rule}). Cloud metadata and link-local addresses are "
                        "refused by default; an administrator can change the rules",
                        address=str(address),
                        port=port,
                        rule=str(rule),
                    )
        for rule in self.allow:
            if rule.matches(_unwrap(address), port):
                return rule
        raise NetworkRefused(
            f"No network rule allows {address} port {port}; ask an administrator "
            "to add it to the gateway's allow rules",
            address=str(address),
            port=port,
            rule=None,
        )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Resolve *host* to normalised addresses, IPv4 first, without duplicates.

    Raises
    ------
    Unreachable
        With reason ``dns`` when the name does not resolve.
    """
    try:
        # An address needs no resolver; getaddrinfo would still cost a trip
        # through the loop's thread pool, once per host of a batch run.
        # Spellings that ipaddress refuses (octal, one number) still go to
        # getaddrinfo, which reads them as the connection would.
        literal = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    else:
        return [_unwrap(literal)]
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise Unreachable(
            f"The name '{host}' does not resolve from the gateway ({exc}): check the "
            "instance's host name, or use its IP address",
            reason="dns",
            host=host,
        ) from exc

    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = _unwrap(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
        if address not in addresses:
            addresses.append(address)
    addresses.sort(key=lambda a: a.version)
    return addresses


async def resolve_checked(
    host: str, port: int, rules: NetworkRules
) -> tuple[IPAddress, Rule]:
    """Resolve *host* and return the first address the rules allow, with its rule.

    Every answer is checked: a name that resolves to an allowed and a
    refused address is refused, because the resolver may hand out either.

    Raises
    ------
    Unreachable
        When the name does not resolve.
    NetworkRefused
        When any resolved address is refused.
    """
    addresses = await resolve(host, port)
    allowed = [(address, rules.check(address, port)) for address in addresses]
    return allowed[0]


def source_address(target: IPAddress, port: int) -> str:
    """Return the local address the gateway would use to reach *target*.

    A connected UDP socket asks the kernel's routing table; nothing is sent.
    """
    family = socket.AF_INET if target.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((str(target), port))
            return str(probe.getsockname()[0])
    except OSError:
        return "this gateway"


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


#: IPv6 ranges whose last 32 bits carry an IPv4 address that a translator
#: or tunnel may deliver to: IPv4-compatible (deprecated), SIIT, and the
#: well-known and local-use NAT64 prefixes.
_IPV4_CARRIERS = tuple(
    ipaddress.IPv6Network(n)
    for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def _embedded_ipv4(address: IPAddress) -> list[IPAddress]:
    """Return the IPv4 addresses that *address* may deliver to.

    An address filter must judge these as the IPv4 address they carry:
    mapped, 6to4, Teredo (server and client), and the carriers above.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[IPAddress] = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    if any(address in carrier for carrier in _IPV4_CARRIERS) and int(address) > 1:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found
