"""The audit log, terminal recordings and the gateway key file, on real files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from jupyter_workbench.gateway.audit import AuditLog, Origin, current_origin
from jupyter_workbench.gateway.gatewaykey import COMMENT, GatewayKey, GatewayKeyMissing
from jupyter_workbench.gateway.recording import (
    RecordingNotFound,
    Recordings,
    read_cast,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_audit_records_are_appended_as_json_lines_with_mode_0600(tmp_path):
    path = tmp_path / "audit" / "audit.jsonl"
    first, second = AuditLog(path), AuditLog(path)

    first.record("login", principal="alice", instance="web-1", method="password")
    second.record("denied", principal="bob", instance="web-1", outcome="denied")
    first.record("terminal_open", principal="alice", instance="web-1")

    lines = path.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "login",
        "denied",
        "terminal_open",
    ]
    assert mode(path) == 0o600
    assert first.events()[1]["outcome"] == "denied"


def test_audit_tightens_a_loose_existing_file(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o644)
    AuditLog(path).record("login", principal="alice")
    assert mode(path) == 0o600


def test_audit_drops_secret_fields_whatever_the_caller_passes(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    entry = log.record(
        "login",
        principal="alice",
        password="hunter2",
        Private_Key="-----BEGIN",
        passphrase="pp",
        responses=["123456"],
        login_user="ops",
    )
    text = (tmp_path / "a.jsonl").read_text()
    for secret in ("hunter2", "BEGIN", "pp", "123456"):
        assert secret not in text
    assert entry["login_user"] == "ops"


def test_audit_carries_the_request_origin(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    token = current_origin.set(Origin(client="10.1.2.3", notebook="a.ipynb", cell="3"))
    try:
        entry = log.record("login", principal="alice")
    finally:
        current_origin.reset(token)
    assert (entry["client"], entry["notebook"], entry["cell"]) == (
        "10.1.2.3",
        "a.ipynb",
        "3",
    )
    assert "client" not in log.record("login", principal="alice")


def test_recording_is_asciicast_v2_with_mode_0600(tmp_path):
    recordings = Recordings(tmp_path / "recordings")
    recorder = recordings.start("alice", "ab" * 16, cols=80, rows=24, title="ops@web")
    recorder.output("hello ")
    recorder.resize(100, 30)
    recorder.output("wörld\r\n")
    recorder.close()
    recorder.output("after close is dropped")

    header, events = read_cast(recorder.path)
    assert header["version"] == 2 and (header["width"], header["height"]) == (80, 24)
    assert [e[1:] for e in events] == [
        ["o", "hello "],
        ["r", "100x30"],
        ["o", "wörld\r\n"],
    ]
    assert mode(recorder.path) == 0o600
    assert recordings.list("alice")[0]["id"] == "ab" * 16
    assert recordings.list("bob") == []


def test_recording_folders_are_private(tmp_path):
    # The folder names carry the users' names: other local users may not
    # list them.
    recordings = Recordings(tmp_path / "data" / "recordings")
    recorder = recordings.start("alice", "cd" * 16, cols=80, rows=24, title="t")
    recorder.close()
    assert mode(tmp_path / "data" / "recordings") == 0o700
    assert mode(recorder.path.parent) == 0o700


@pytest.mark.parametrize("bad", ["../../etc/passwd", "AB" * 16, "ab" * 15, ""])
def test_recording_ids_are_checked(tmp_path, bad):
    with pytest.raises(RecordingNotFound):
        Recordings(tmp_path).path("alice", bad)


def test_read_cast_rejects_what_is_not_asciicast_v2(tmp_path):
    path = tmp_path / "x.cast"
    path.write_text('{"version": 1}\n')
    with pytest.raises(ValueError, match="not an asciicast v2"):
        read_cast(path)
    path.write_text('{"version": 2}\n[0.1, "x", "?"]\n')
    with pytest.raises(ValueError, match="malformed event"):
        read_cast(path)


def test_gateway_key_is_created_once_rotated_and_kept_private(tmp_path):
    key = GatewayKey(tmp_path / "data" / "gateway_key")
    with pytest.raises(GatewayKeyMissing, match="administrator must create it"):
        key.private_key()
    assert key.fingerprint() is None

    first = key.create()
    assert key.create() == first, "creating again keeps the key"
    assert mode(key.path) == 0o600
    assert key.public_line().startswith("ssh-ed25519 ")
    assert key.public_line().endswith(f" {COMMENT}")

    second = key.rotate()
    assert second != first and key.fingerprint() == second
    assert mode(key.path) == 0o600
    assert list(key.path.parent.iterdir()) == [key.path], "no temporary file left"
    command = key.install_command()
    assert key.public_line() in command and "BEGIN" not in command
