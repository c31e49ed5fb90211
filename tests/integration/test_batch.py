"""Batch runs against a fleet of real OpenSSH servers on loopback.

The fleet (22 sshd processes plus a listener that never answers) is
started once for the module. One command goes to every host; it reads the
server's port from ``$SSH_CONNECTION`` so that one host can fail and one
can print 50 MiB while the others print 42.
"""

from __future__ import annotations

import asyncio
import json
import pwd
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from fleet import Fleet, pids_with, start_fleet
from sshd import LocalUser, hold_closed_port
from wbtest import PRINCIPAL, host_key, instance_for

from jupyter_workbench.gateway.batch import KEEP_BYTES, RunOptions, compare
from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.gateway import Gateway, GatewayConfig
from jupyter_workbench.gateway.inventory import Instance, Inventory
from jupyter_workbench.gateway.targets import TargetError

pytestmark = pytest.mark.asyncio

FLEET_SIZE = 22
BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def fleet(
    _root_tools: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    fleet = start_fleet(tmp_path_factory.mktemp("fleet"), FLEET_SIZE)
    yield fleet
    fleet.stop()


@pytest_asyncio.fixture
async def fleet_gateway(
    fleet: Fleet, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, int]]:
    """A gateway whose inventory is the fleet (web01…web22), plus bad hosts.

    ``hang`` accepts TCP and never speaks SSH; ``closed`` refuses. Yields
    the gateway and the closed port.
    """
    closed = hold_closed_port()
    closed_port = int(closed.getsockname()[1])
    instances = [
        instance_for(s, f"web{n:02d}", tags={"group": "odd" if n % 2 else "even"})
        for n, s in enumerate(fleet.servers, 1)
    ]
    instances += [
        Instance(name="hang", host="127.0.0.1", port=fleet.hang_port),
        Instance(name="closed", host="127.0.0.1", port=closed_port),
    ]
    gateway = Gateway(
        Inventory(instances),
        GatewayConfig(data_dir=tmp_path / "data", connect_timeout=3.0),
    )
    for server in fleet.servers:
        gateway.known_hosts(PRINCIPAL).add(server.host, server.port, host_key(server))
    yield gateway, closed_port
    await gateway.close()
    closed.close()


def _command(fail_port: int, big_port: int) -> str:
    return (
        'port=${SSH_CONNECTION##* }; echo $((6*7)); echo "err $port" >&2; '
        f'if [ "$port" = {fail_port} ]; then echo boom >&2; exit 3; fi; '
        f'if [ "$port" = {big_port} ]; then head -c {BIG} /dev/zero | tr "\\0" x; fi'
    )


async def test_one_command_on_the_fleet_is_reported_host_by_host(
    fleet, fleet_gateway, ssh_user: LocalUser
):
    gateway, _ = fleet_gateway
    fail, big = fleet.servers[3], fleet.servers[7]
    good = Credentials(ssh_user.name, password=ssh_user.password)
    credentials = {f"web{n:02d}": good for n in range(1, FLEET_SIZE + 1)}
    credentials["web22"] = Credentials(
        ssh_user.name, password="not-" + ssh_user.password
    )
    credentials["hang"] = credentials["closed"] = good

    run = gateway.start_run(
        PRINCIPAL,
        "web[01-22],hang,closed",
        _command(fail.port, big.port),
        RunOptions(concurrency=8, connect_timeout=4.0),
        credentials=credentials,
    )
    await asyncio.wait_for(run.wait(), 120)

    hosts = run.hosts
    assert len(hosts) == FLEET_SIZE + 2
    assert hosts["hang"].state == "error"
    assert hosts["hang"].error["error"] == "timeout", hosts["hang"].error
    assert hosts["closed"].state == "error"
    assert hosts["closed"].error["error"] == "unreachable"
    assert hosts["web22"].state == "error"
    assert hosts["web22"].error["error"] == "auth_failed"
    assert hosts["web04"].state == "failed" and hosts["web04"].exit_status == 3
    assert hosts["web04"].stderr.text() == f"err {fail.port}\nboom\n"

    big_result = hosts["web08"]
    assert big_result.state == "ok" and big_result.stdout.total == BIG + 3
    assert big_result.stdout.kept == 2 * KEEP_BYTES
    assert big_result.stdout.truncated == BIG + 3 - 2 * KEEP_BYTES
    assert bytes(big_result.stdout.head[:3]) == b"42\n"
    assert bytes(big_result.stdout.tail) == b"x" * KEEP_BYTES

    plain = [f"web{n:02d}" for n in range(1, 22) if n not in (4, 8)]
    for name in plain:
        result = hosts[name]
        port = next(i.port for i in gateway.inventory if i.name == name)
        assert (result.state, result.exit_status) == ("ok", 0), (name, result)
        assert result.stdout.text() == "42\n"
        assert result.stderr.text() == f"err {port}\n"
        assert result.started is not None and result.duration is not None
    assert sorted(run.failed) == ["closed", "hang", "web04", "web22"]
    assert len(run.ok) == 20
    assert run.state == "done"
    assert ssh_user.password not in json.dumps(run.to_dict())


async def test_cancel_stops_every_remote_process(fleet, fleet_gateway, ssh_user):
    gateway, _ = fleet_gateway
    uid = pwd.getpwnam(ssh_user.name).pw_uid
    marker = "sleep 3001"
    run = gateway.start_run(
        PRINCIPAL,
        "web[01-06]",
        f"{marker}; echo never",
        credentials=Credentials(ssh_user.name, password=ssh_user.password),
    )
    await _until(lambda: len(pids_with(uid, marker)) >= 6, "six sleeps running")

    await asyncio.wait_for(run.cancel(), 30)

    assert {r.state for r in run.hosts.values()} == {"cancelled"}
    assert run.state == "cancelled"
    await _until(lambda: not pids_with(uid, marker), "no sleep left on the host")
    assert all("never" not in r.stdout.text() for r in run.hosts.values())


async def test_command_timeout_stops_the_command(fleet, fleet_gateway, ssh_user):
    gateway, _ = fleet_gateway
    uid = pwd.getpwnam(ssh_user.name).pw_uid
    run = gateway.start_run(
        PRINCIPAL,
        "web01,web02",
        "sleep 3002 | cat",
        RunOptions(command_timeout=1.0),
        credentials=Credentials(ssh_user.name, password=ssh_user.password),
    )
    await asyncio.wait_for(run.wait(), 30)

    for result in run.hosts.values():
        assert result.state == "failed" and result.error["error"] == "timeout"
    await _until(lambda: not pids_with(uid, "sleep 3002"), "no sleep left")


async def test_error_budget_stops_launching(fleet, fleet_gateway, ssh_user):
    gateway, _ = fleet_gateway
    run = gateway.start_run(
        PRINCIPAL,
        "closed,web01,web02",
        "true",
        RunOptions(concurrency=1, error_budget=0),
        credentials=Credentials(ssh_user.name, password=ssh_user.password),
    )
    await asyncio.wait_for(run.wait(), 30)

    assert run.hosts["closed"].state == "error"
    assert run.hosts["web01"].state == "skipped"
    assert run.hosts["web02"].state == "skipped"
    assert run.state == "stopped"

    audit = gateway.config.data_dir / "audit.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    start, end = (r for r in records if r["event"].startswith("run."))
    assert start["event"] == "run.start" and start["command"] == "true"
    assert start["hosts"] == ["closed", "web01", "web02"]
    assert end["event"] == "run.end" and end["outcome"] == "stopped"
    assert end["results"]["closed"] == {"state": "error", "exit_status": None}
    assert ssh_user.password not in audit.read_text()


async def test_stdin_env_and_working_directory(fleet, fleet_gateway, ssh_user):
    gateway, _ = fleet_gateway
    run = gateway.start_run(
        PRINCIPAL,
        "@odd,!web[03-22]",
        'cat; echo "$GREETING"; pwd',
        RunOptions(stdin=b"from stdin\n", env={"GREETING": "it's me"}, cwd="/tmp"),
        credentials=Credentials(ssh_user.name, password=ssh_user.password),
    )
    await asyncio.wait_for(run.wait(), 30)

    assert list(run.hosts) == ["web01"]
    assert run.hosts["web01"].stdout.text() == "from stdin\nit's me\n/tmp\n"


async def test_rerun_failed_and_compare(fleet, fleet_gateway, ssh_user):
    gateway, _ = fleet_gateway
    flag = ssh_user.home / "batch-flag"
    flag.unlink(missing_ok=True)
    command = (
        "port=${SSH_CONNECTION##* }; "
        f'if [ "$port" = {fleet.servers[1].port} ] && [ ! -e {flag} ]; '
        "then exit 1; fi; echo fine"
    )
    first = gateway.start_run(
        PRINCIPAL,
        "web01,web02,web03",
        command,
        credentials=Credentials(ssh_user.name, password=ssh_user.password),
    )
    await asyncio.wait_for(first.wait(), 30)
    assert first.failed == ["web02"]

    flag.write_text("")
    again = gateway.runs.rerun_failed(PRINCIPAL, first.id)
    await asyncio.wait_for(again.wait(), 30)
    flag.unlink()

    assert list(again.hosts) == ["web02"] and again.ok == ["web02"]
    assert again.parent == first.id
    changed = compare(first, again)
    assert changed["web02"]["what"] == ["exit_status", "stdout"]
    assert changed["web01"] == {"change": "removed"}


async def test_unknown_targets_are_named(fleet_gateway):
    gateway, _ = fleet_gateway
    with pytest.raises(TargetError) as caught:
        gateway.start_run(PRINCIPAL, "web01,db-*,env=nope", "true")
    assert caught.value.details["unmatched"] == ["db-*", "env=nope"]


async def test_sudo_answers_the_prompt_without_leaking_the_password(
    fleet, fleet_gateway, ssh_user, sudoer
):
    gateway, _ = fleet_gateway
    login = Credentials(ssh_user.name, password=ssh_user.password)
    run = gateway.start_run(
        PRINCIPAL,
        "web01",
        "id -u; cat",
        RunOptions(sudo=True, sudo_password=ssh_user.password, stdin=b"piped\n"),
        credentials=login,
    )
    await asyncio.wait_for(run.wait(), 30)
    result = run.hosts["web01"]
    assert (result.state, result.stdout.text()) == ("ok", "0\npiped\n"), result
    assert ssh_user.password not in json.dumps(run.to_dict())

    wrong = gateway.start_run(
        PRINCIPAL,
        "web01",
        "id -u",
        RunOptions(sudo=True, sudo_password="wrong"),
    )
    await asyncio.wait_for(wrong.wait(), 60)
    assert wrong.hosts["web01"].error["error"] == "sudo_refused"


@pytest.fixture
def sudoer(ssh_user: LocalUser) -> Iterator[None]:
    """Let the test user run anything with sudo, with its password."""
    path = Path("/etc/sudoers.d") / f"{ssh_user.name}-batch"
    path.write_text(f"{ssh_user.name} ALL=(ALL) ALL\n")
    path.chmod(0o440)
    yield
    path.unlink()


async def _until(check, what: str, timeout: float = 15.0) -> None:
    async def loop() -> None:
        while not check():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"Not reached in {timeout} s: {what}") from None
