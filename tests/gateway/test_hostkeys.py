"""Unit tests of the per-principal known_hosts files."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import asyncssh
import pytest

from jupyter_workbench.gateway.errors import HostKeyChanged, HostKeyUnknown
from jupyter_workbench.gateway.hostkeys import (
    KnownHosts,
    fingerprint,
    host_pattern,
    principal_file,
)


@pytest.fixture(scope="module")
def key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519").convert_to_public()


@pytest.fixture(scope="module")
def other_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ecdsa-sha2-nistp256").convert_to_public()


@pytest.fixture
def known_hosts(tmp_path: Path) -> KnownHosts:
    return KnownHosts(tmp_path / "known_hosts" / "alice-0123")


def public_line(key: asyncssh.SSHKey) -> str:
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def test_host_pattern_follows_openssh() -> None:
    assert host_pattern("web.example", 22) == "web.example"
    assert host_pattern("10.0.0.5", 2222) == "[10.0.0.5]:2222"
    assert host_pattern("::1", 2222) == "[::1]:2222"


def test_fingerprint_is_openssh_sha256(key: asyncssh.SSHKey) -> None:
    assert fingerprint(key).startswith("SHA256:")
    assert fingerprint(key) == key.get_fingerprint()


def test_nothing_is_trusted_before_the_file_exists(known_hosts: KnownHosts) -> None:
    assert known_hosts.trusted("10.0.0.5", 22) == []
    assert not known_hosts.path.exists()


def test_add_then_trusted_on_a_non_standard_port(
    known_hosts: KnownHosts, key: asyncssh.SSHKey
) -> None:
    known_hosts.add("10.0.0.5", 2222, key)

    (trusted,) = known_hosts.trusted("10.0.0.5", 2222)
    assert fingerprint(trusted) == fingerprint(key)
    assert known_hosts.path.read_text() == f"[10.0.0.5]:2222 {public_line(key)}\n"
    assert known_hosts.trusted("10.0.0.5", 22) == []
    assert known_hosts.trusted("10.0.0.6", 2222) == []


def test_add_then_trusted_on_port_22_is_plain(
    known_hosts: KnownHosts, key: asyncssh.SSHKey, other_key: asyncssh.SSHKey
) -> None:
    known_hosts.add("web.example", 22, key)
    known_hosts.add("web.example", 22, other_key)

    trusted = known_hosts.trusted("web.example", 22)
    assert [fingerprint(k) for k in trusted] == [
        fingerprint(key),
        fingerprint(other_key),
    ]
    assert known_hosts.path.read_text().splitlines() == [
        f"web.example {public_line(key)}",
        f"web.example {public_line(other_key)}",
    ]
    assert known_hosts.trusted("web.example", 2222) == []
    assert known_hosts.trusted("[web.example]:22", 22) == []


def test_file_is_private(known_hosts: KnownHosts, key: asyncssh.SSHKey) -> None:
    known_hosts.add("10.0.0.5", 22, key)
    known_hosts.add("10.0.0.6", 22, key)

    assert stat.S_IMODE(known_hosts.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(known_hosts.path.parent.stat().st_mode) == 0o700


def test_add_is_logged_with_the_fingerprint(
    known_hosts: KnownHosts, key: asyncssh.SSHKey, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="jupyter_workbench.gateway.hostkeys"):
        known_hosts.add("10.0.0.5", 2222, key)

    assert caplog.messages == [
        f"Trusted host key {fingerprint(key)} for [10.0.0.5]:2222"
    ]


def test_openssh_style_lines_are_read(
    known_hosts: KnownHosts,
    key: asyncssh.SSHKey,
    other_key: asyncssh.SSHKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    known_hosts.path.parent.mkdir(parents=True)
    known_hosts.path.write_text(
        "# seeded by an administrator\n"
        "\n"
        f"alias,10.0.0.5 {public_line(key)} comment here\n"
        f"@cert-authority 10.0.0.5 {public_line(other_key)}\n"
        "10.0.0.5 ssh-ed25519 AAAAnot-a-key\n"
        "10.0.0.5 short\n"
    )

    trusted = known_hosts.trusted("10.0.0.5", 22)

    assert [fingerprint(k) for k in trusted] == [fingerprint(key)]
    assert known_hosts.trusted("alias", 22)
    assert "Skipping an unreadable key for 10.0.0.5" in caplog.text


def test_unknown_key_gives_its_fingerprint(
    known_hosts: KnownHosts, key: asyncssh.SSHKey
) -> None:
    with pytest.raises(HostKeyUnknown) as caught:
        known_hosts.check("10.0.0.5", 2222, key)

    error = caught.value
    assert error.code == "host_key_unknown"
    assert error.details == {
        "host": "10.0.0.5",
        "port": 2222,
        "fingerprint": fingerprint(key),
        "key_type": "ssh-ed25519",
    }
    assert fingerprint(key) in error.message
    assert "[10.0.0.5]:2222" in error.message


def test_changed_key_is_refused_with_both_fingerprints(
    known_hosts: KnownHosts, key: asyncssh.SSHKey, other_key: asyncssh.SSHKey
) -> None:
    known_hosts.add("10.0.0.5", 22, key)

    with pytest.raises(HostKeyChanged) as caught:
        known_hosts.check("10.0.0.5", 22, other_key)

    error = caught.value
    assert error.code == "host_key_changed"
    assert error.details["known_fingerprints"] == [fingerprint(key)]
    assert error.details["fingerprint"] == fingerprint(other_key)
    assert error.details["key_type"] == "ecdsa-sha2-nistp256"
    assert fingerprint(key) in error.message
    assert fingerprint(other_key) in error.message
    # The way out is the user's own (forget the key), not a server path.
    assert "forget the old key" in error.message
    assert str(known_hosts.path) not in error.message


def test_key_for_another_port_does_not_make_it_a_change(
    known_hosts: KnownHosts, key: asyncssh.SSHKey, other_key: asyncssh.SSHKey
) -> None:
    known_hosts.add("10.0.0.5", 22, key)

    with pytest.raises(HostKeyUnknown):
        known_hosts.check("10.0.0.5", 2222, other_key)


def test_principal_files_are_separate(tmp_path: Path) -> None:
    alike = ["alice/bob", "alice:bob", "alice bob", "alice_bob"]

    paths = [principal_file(tmp_path, name) for name in alike]

    assert len(set(paths)) == len(alike)
    for path in paths:
        assert path.parent == tmp_path
        assert path.name.startswith("alice_bob-")
    assert principal_file(tmp_path, "alice/bob") == paths[0]


def test_principal_file_is_safe_for_any_name(tmp_path: Path) -> None:
    for name in ["", "..", "../../etc/passwd", "x" * 500, "Zoë", "/"]:
        path = principal_file(tmp_path, name)

        assert path.parent == tmp_path
        assert path.name not in ("", ".", "..")
        assert "/" not in path.name
        assert len(path.name) <= 64 + 13


def test_every_change_to_the_file_is_seen_at_the_next_lookup(
    known_hosts: KnownHosts, key: asyncssh.SSHKey, other_key: asyncssh.SSHKey
) -> None:
    # Lookups reuse the parsed file until it changes (a batch run looks up
    # hundreds of hosts): appends, removals and edits by hand must show.
    known_hosts.add("10.0.0.5", 2222, key)
    assert known_hosts.trusted("10.0.0.5", 2222) == [key]
    assert KnownHosts(known_hosts.path).trusted("10.0.0.5", 2222) == [key]

    known_hosts.add("10.0.0.6", 2222, other_key)
    assert known_hosts.trusted("10.0.0.6", 2222) == [other_key]

    assert known_hosts.remove("10.0.0.5", 2222) == 1
    assert known_hosts.trusted("10.0.0.5", 2222) == []

    # An edit by hand that keeps the file's length.
    text = known_hosts.path.read_text()
    known_hosts.path.write_text(text.replace("10.0.0.6", "10.0.0.7"))
    assert known_hosts.trusted("10.0.0.6", 2222) == []
    assert known_hosts.trusted("10.0.0.7", 2222) == [other_key]

    known_hosts.path.unlink()
    assert known_hosts.trusted("10.0.0.7", 2222) == []
