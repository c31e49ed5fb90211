"""Unit tests of the network rules and of checking addresses after resolution.

Only numeric addresses and ``localhost`` (answered from /etc/hosts) are
ever resolved here: a guard fails any test that would send a DNS query.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_workbench.gateway.errors import NetworkRefused, Unreachable
from jupyter_workbench.gateway.network import (
    NetworkRules,
    Rule,
    resolve,
    resolve_checked,
)

pytestmark = pytest.mark.asyncio

_real_getaddrinfo = socket.getaddrinfo


def _offline_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # A numeric host resolves with AI_NUMERICHOST, which never queries DNS;
    # anything else but localhost is a test bug, not something to send out.
    if host != "localhost":
        try:
            _real_getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            pytest.fail(f"test tried to resolve a non-numeric name {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket, "getaddrinfo", _offline_getaddrinfo)
    yield


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


METADATA_AND_LINK_LOCAL = [
    "169.254.169.254",
    "100.100.100.200",
    "fd00:ec2::254",
    "169.254.0.1",
    "169.254.255.255",
    "fe80::1",
    "febf:ffff::1",
    # The same IPv4 addresses carried inside IPv6.
    "::ffff:169.254.169.254",
    "::ffff:100.100.100.200",
    "::ffff:169.254.1.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::6464:64c8",
    "2002:a9fe:a9fe::1",
    "2002:6464:64c8::",
    # IPv4-compatible, SIIT, local-use NAT64 and Teredo (client obfuscated).
    "::169.254.169.254",
    "::ffff:0:a9fe:a9fe",
    "64:ff9b:1::a9fe:a9fe",
    "2001:0:4136:e378:8000:63bf:5601:5601",
]


@pytest.mark.parametrize("address", METADATA_AND_LINK_LOCAL)
async def test_default_rules_refuse_metadata_and_link_local(address: str) -> None:
    rules = NetworkRules()

    with pytest.raises(NetworkRefused) as caught:
        rules.check(ip(address), 80)

    assert caught.value.details["address"] == str(ip(address))
    assert caught.value.details["port"] == 80
    assert caught.value.details["rule"].startswith("deny ")
    assert "Cloud metadata and link-local" in caught.value.message


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "192.0.2.1",
        "127.0.0.1",
        "::1",
        "2001:db8::1",
        "::ffff:10.0.0.5",
        "64:ff9b::a00:5",
        "2002:a00:5::1",
        "169.253.255.255",
        "169.255.0.0",
        "fec0::1",
    ],
)
async def test_default_rules_allow_other_addresses(address: str) -> None:
    rule = NetworkRules().check(ip(address), 22)

    assert rule.action == "allow"


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "239.1.2.3",
        "ff02::1",
        "::ffff:0.0.0.0",
        "::ffff:224.0.0.1",
        "2002:e000:0001::",
    ],
)
async def test_unspecified_and_multicast_are_refused(address: str) -> None:
    with pytest.raises(NetworkRefused) as caught:
        NetworkRules().check(ip(address), 22)

    assert caught.value.details["rule"] == "unspecified or multicast"
    assert "not a host address" in caught.value.message


@pytest.mark.parametrize(
    "spelling",
    [
        "0xa9.0xfe.0xa9.0xfe",
        "2852039166",
        "169.254.43518",
        "0251.0376.0251.0376",
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "64:ff9b::169.254.169.254",
    ],
)
async def test_odd_spellings_are_refused_after_resolution(spelling: str) -> None:
    with pytest.raises(NetworkRefused) as caught:
        await resolve_checked(spelling, 22, NetworkRules())

    assert caught.value.details["rule"] in (
        "deny 169.254.169.254/32",
        "deny 169.254.0.0/16",
    )


async def test_resolution_unwraps_mapped_addresses() -> None:
    assert await resolve("::ffff:10.1.2.3", 22) == [ip("10.1.2.3")]
    assert await resolve("2130706433", 22) == [ip("127.0.0.1")]


async def test_localhost_resolves_from_hosts_file_and_is_allowed() -> None:
    address, rule = await resolve_checked("localhost", 22, NetworkRules())

    assert address.is_loopback
    assert rule.action == "allow"


async def test_unresolvable_name_is_unreachable_dns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)

    with pytest.raises(Unreachable) as caught:
        await resolve("web-1.invalid", 22)

    assert caught.value.details == {"reason": "dns", "host": "web-1.invalid"}
    assert "does not resolve" in caught.value.message


async def test_one_refused_answer_refuses_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 22)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%2", 22, 0, 2)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)

    assert await resolve("web-1.invalid", 22) == [ip("10.0.0.5"), ip("fe80::1")]
    with pytest.raises(NetworkRefused, match=r"fe80::1"):
        await resolve_checked("web-1.invalid", 22, NetworkRules())


async def test_allow_list_with_ports_and_ranges() -> None:
    rules = NetworkRules(allow=["10.0.0.0/8 22", "192.0.2.0/24 2200-2299", "::1"])

    assert str(rules.check(ip("10.1.2.3"), 22)) == "allow 10.0.0.0/8 port 22"
    assert (
        str(rules.check(ip("192.0.2.7"), 2200)) == "allow 192.0.2.0/24 ports 2200-2299"
    )
    assert (
        str(rules.check(ip("192.0.2.7"), 2299)) == "allow 192.0.2.0/24 ports 2200-2299"
    )
    assert str(rules.check(ip("::1"), 1)) == "allow ::1/128"
    assert str(rules.check(ip("::ffff:10.0.0.1"), 22)) == "allow 10.0.0.0/8 port 22"

    for address, port in [
        ("10.1.2.3", 23),
        ("192.0.2.7", 2199),
        ("192.0.2.7", 2300),
        ("172.16.0.1", 22),
        ("::2", 22),
    ]:
        with pytest.raises(NetworkRefused, match=r"No network rule allows") as caught:
            rules.check(ip(address), port)
        assert caught.value.details["rule"] is None


async def test_ipv6_rules() -> None:
    rules = NetworkRules(allow=["2001:db8::/32 22"], deny=["2001:db8:bad::/48"])

    assert rules.check(ip("2001:db8::1"), 22).network.version == 6
    with pytest.raises(NetworkRefused, match=r"deny 2001:db8:bad::/48"):
        rules.check(ip("2001:db8:bad::1"), 22)
    with pytest.raises(NetworkRefused):
        rules.check(ip("10.0.0.1"), 22)


async def test_ipv4_rule_does_not_match_ipv6_address() -> None:
    rules = NetworkRules(allow=["0.0.0.0/0"], deny=[])

    with pytest.raises(NetworkRefused):
        rules.check(ip("2001:db8::1"), 22)


async def test_deny_beats_allow() -> None:
    rules = NetworkRules(
        allow=["169.254.169.254/32", "10.0.0.0/8"],
        deny=["169.254.0.0/16", "10.0.0.0/8 3389", "10.9.0.0/16"],
    )

    with pytest.raises(NetworkRefused, match=r"deny 169.254.0.0/16"):
        rules.check(ip("169.254.169.254"), 22)
    with pytest.raises(NetworkRefused, match=r"deny 10.0.0.0/8 port 3389"):
        rules.check(ip("10.1.1.1"), 3389)
    with pytest.raises(NetworkRefused, match=r"deny 10.9.0.0/16"):
        rules.check(ip("10.9.1.1"), 22)
    assert rules.check(ip("10.1.1.1"), 22).action == "allow"


async def test_custom_deny_list_replaces_the_default() -> None:
    rules = NetworkRules(deny=["10.0.0.0/8"])

    assert rules.check(ip("169.254.169.254"), 22).action == "allow"
    with pytest.raises(NetworkRefused):
        rules.check(ip("2002:a00:1::"), 22)


@pytest.mark.parametrize(
    ("text", "network", "ports"),
    [
        ("10.0.0.0/8", "10.0.0.0/8", (1, 65535)),
        ("  10.0.0.0/8   22 ", "10.0.0.0/8", (22, 22)),
        ("10.1.2.3/8 22-2222", "10.0.0.0/8", (22, 2222)),
        ("192.0.2.1", "192.0.2.1/32", (1, 65535)),
        ("::/0 1-65535", "::/0", (1, 65535)),
        ("fd00::/8 443", "fd00::/8", (443, 443)),
    ],
)
async def test_rule_parse(text: str, network: str, ports: tuple[int, int]) -> None:
    rule = Rule.parse("allow", text)

    assert str(rule.network) == network
    assert (rule.first_port, rule.last_port) == ports


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10.0.0.0/33",
        "10.0.0.0/8 0",
        "10.0.0.0/8 65536",
        "10.0.0.0/8 22-21",
        "10.0.0.0/8 ssh",
        "10.0.0.0/8 -22",
        "10.0.0.0/8 22-",
        "not-a-network",
        "10.0.0.0/8 22 23",
        "::/129",
    ],
)
async def test_rule_parse_errors(text: str) -> None:
    with pytest.raises(ValueError):
        Rule.parse("allow", text)


async def test_bad_rule_fails_at_construction() -> None:
    with pytest.raises(ValueError):
        NetworkRules(allow=["10.0.0.0/8 70000"])
