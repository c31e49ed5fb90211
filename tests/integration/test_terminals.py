"""Terminal sessions on the real sshd: I/O, resize, reattach, endings, pooling."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest
import pytest_asyncio
from sshd import LocalUser, SSHServer
from wbtest import PRINCIPAL, attach, host_key, instance_for

from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import NotLoggedIn, TerminalNotFound
from jupyter_workbench.gateway.gateway import Gateway

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def logged_in(gateway: Gateway, ssh_user: LocalUser) -> Gateway:
    await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )
    return gateway


async def shell_pid(screen, session) -> int:
    session.write("echo PID=$$=\n")
    for _ in range(100):
        found = re.search(r"PID=(\d+)=", screen.text)
        if found:
            return int(found.group(1))
        await asyncio.sleep(0.05)
    raise AssertionError(f"no PID in {screen.text!r}")


async def test_terminal_needs_a_login(gateway: Gateway):
    with pytest.raises(NotLoggedIn):
        await gateway.open_terminal(PRINCIPAL, "real")


async def test_output_split_inside_a_character_arrives_whole(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)

    # The two halves of 你 (e4 bd a0) leave the shell in separate writes.
    session.write(r"printf '[\344\275'; sleep 0.3; printf '\240]\n'" + "\n")

    await screen.wait_for("[你]")
    assert "\ufffd" not in screen.text


async def test_multibyte_input_round_trips(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)

    session.write("echo 'héllo wörld ✓ 日本 🚀' | od -An -tx1 | tr -d ' \\n'; echo\n")

    expected = "héllo wörld ✓ 日本 🚀\n".encode().hex()
    await screen.wait_for(expected)


async def test_terminal_environment_is_sensible(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)

    session.write('echo "T=$TERM L=$LANG"\n')

    await screen.wait_for("T=xterm-256color L=C.UTF-8")


async def test_resize_is_visible_to_stty(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real", rows=30, cols=100)
    screen = await attach(session)
    session.write("stty size\n")
    await screen.wait_for("30 100")

    session.resize(41, 133)
    session.write("stty size\n")

    await screen.wait_for("41 133")
    assert session.to_dict()["rows"] == 41


async def test_reattach_replays_scrollback(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    first = await attach(session)
    session.write("echo before-$((40+2))\n")
    await first.wait_for("before-42")
    session.detach(first)

    later = await attach(session)

    assert later.messages[0][0] == "setup"
    assert "before-42" in later.text
    session.write("echo after-$((50+5))\n")
    await later.wait_for("after-55")
    assert "after-55" not in first.text, "a detached watcher gets nothing more"


async def test_two_watchers_see_the_same_output(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    one, two = await attach(session), await attach(session)

    session.write("echo shared-$((3*3))\n")

    await one.wait_for("shared-9")
    await two.wait_for("shared-9")


async def test_scrollback_is_bounded(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    gateway = make_gateway(instance_for(sshd), scrollback=4096)
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )
    session = await gateway.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)

    session.write("seq 1 20000; echo done-$((1+1))\n")
    await screen.wait_for("done-2")

    history = session.scrollback.text()
    assert len(history) <= 4096
    assert "done-2" in history and "\r\n1\r\n" not in history


async def test_closing_the_session_ends_the_remote_shell(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)
    pid = await shell_pid(screen, session)

    await session.close()

    await _wait_gone(pid)
    assert (await screen.wait_for_message("disconnect"))[1] == "Terminal closed"
    with pytest.raises(TerminalNotFound):
        logged_in.terminal(PRINCIPAL, session.id)


async def test_remote_exit_is_reported_with_its_status(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)

    session.write("exit 3\n")

    message = await screen.wait_for_message("disconnect")
    assert message[1] == "Remote shell exited with status 3"
    assert "[Remote shell exited with status 3]" in screen.text


async def test_dropped_connection_is_reported(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)
    pid = await shell_pid(screen, session)

    # Kill the sshd process that serves this connection: the TCP
    # connection drops as it would when a host dies.
    server_side = int(Path(f"/proc/{pid}/stat").read_text().split()[3])
    os.kill(server_side, signal.SIGKILL)

    message = await screen.wait_for_message("disconnect")
    assert "lost" in message[1] or "closed" in message[1]


async def test_sessions_are_private_to_their_principal(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")

    assert [s.id for s in logged_in.terminals(PRINCIPAL)] == [session.id]
    assert logged_in.terminals("bob") == []
    with pytest.raises(TerminalNotFound):
        logged_in.terminal("bob", session.id)
    with pytest.raises(NotLoggedIn):
        await logged_in.open_terminal("bob", "real")


async def test_terminals_share_a_connection_up_to_the_session_limit(logged_in: Gateway):
    sessions = [await logged_in.open_terminal(PRINCIPAL, "real") for _ in range(12)]

    login = logged_in.pool.login_for(PRINCIPAL, "real")
    assert [c.channels for c in login.connections] == [10, 2]
    screen = await attach(sessions[-1])
    sessions[-1].write("echo twelfth-$((6+6))\n")
    await screen.wait_for("twelfth-12")


async def test_refused_channel_opens_another_connection(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    # Believe the server allows 20 sessions; OpenSSH's MaxSessions (10)
    # refuses the eleventh, and the pool must recover with a new connection.
    gateway = make_gateway(instance_for(sshd), channels_per_connection=20)
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )

    sessions = [await gateway.open_terminal(PRINCIPAL, "real") for _ in range(11)]

    login = gateway.pool.login_for(PRINCIPAL, "real")
    assert [c.channels for c in login.connections] == [10, 1]
    screen = await attach(sessions[-1])
    sessions[-1].write("echo eleventh-$((5+6))\n")
    await screen.wait_for("eleventh-11")


async def test_idle_connections_close_and_reopen_on_demand(logged_in: Gateway):
    session = await logged_in.open_terminal(PRINCIPAL, "real")
    await session.close()
    login = logged_in.pool.login_for(PRINCIPAL, "real")
    assert login.connections[0].channels == 0

    closed = logged_in.pool.reap_idle(now=login.connections[0].idle_since + 10_000)

    assert closed == 1 and login.connections == []
    again = await logged_in.open_terminal(PRINCIPAL, "real")
    screen = await attach(again)
    again.write("echo back-$((2*21))\n")
    await screen.wait_for("back-42")


async def test_jump_host_carries_the_connection(
    make_gateway, sshd: SSHServer, sshd_factory, ssh_user: LocalUser
):
    inner = sshd_factory()
    gateway = make_gateway(
        instance_for(sshd, name="bastion"),
        instance_for(inner, name="inner", jump="bastion"),
    )
    known = gateway.known_hosts(PRINCIPAL)
    known.add(sshd.host, sshd.port, host_key(sshd))
    known.add(inner.host, inner.port, host_key(inner))
    credentials = Credentials(ssh_user.name, password=ssh_user.password)

    await gateway.login(PRINCIPAL, "inner", credentials)
    session = await gateway.open_terminal(PRINCIPAL, "inner")
    screen = await attach(session)
    session.write("echo via-jump-$((7*6))\n")

    await screen.wait_for("via-jump-42")
    sshd.wait_for_log(
        rf"direct-tcpip.*{inner.port}|Connection from .* port \d+ on 127.0.0.1 port {sshd.port}"
    )
    inner.wait_for_log(
        r"Accepted (password|keyboard-interactive/pam) for " + ssh_user.name
    )


async def test_jump_host_address_is_checked_by_the_network_rules(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    from jupyter_workbench.gateway.errors import NetworkRefused
    from jupyter_workbench.gateway.inventory import Instance

    gateway = make_gateway(
        Instance(name="bastion", host="169.254.169.254", port=22),
        instance_for(sshd, name="inner", jump="bastion"),
    )
    with pytest.raises(NetworkRefused):
        await gateway.login(
            PRINCIPAL, "inner", Credentials(ssh_user.name, password=ssh_user.password)
        )


async def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while os.path.exists(f"/proc/{pid}"):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"shell {pid} still runs after the session closed")
        await asyncio.sleep(0.05)


async def test_two_logins_as_different_users_on_one_instance(
    logged_in: Gateway, ssh_user: LocalUser, tmp_path
):
    # A second real user on the same sshd: each login keeps its own pool.
    other = LocalUser.create()
    try:
        await logged_in.login(
            PRINCIPAL, "real", Credentials(other.name, password=other.password)
        )
        mine = await logged_in.open_terminal(
            PRINCIPAL, "real", login_user=ssh_user.name
        )
        theirs = await logged_in.open_terminal(PRINCIPAL, "real")
        screens = [await attach(mine), await attach(theirs)]
        for session in (mine, theirs):
            session.write("echo I-am-$(id -un)\n")
        await screens[0].wait_for(f"I-am-{ssh_user.name}")
        await screens[1].wait_for(f"I-am-{other.name}")
        listed = {i["name"]: i for i in logged_in.instances(PRINCIPAL)}["real"]
        assert listed["login_users"] == [ssh_user.name, other.name]

        await logged_in.logout(PRINCIPAL, "real", other.name)

        await screens[1].wait_for_message("disconnect")
        assert mine.alive and not theirs.alive
        assert logged_in.pool.login_for(PRINCIPAL, "real").credentials.username == (
            ssh_user.name
        )
    finally:
        await logged_in.pool.logout(PRINCIPAL, "real")
        other.delete()


async def test_keepalive_detects_a_peer_that_stopped_answering(
    make_gateway, sshd: SSHServer, ssh_user: LocalUser
):
    gateway = make_gateway(instance_for(sshd), keepalive_interval=0.5)
    gateway.known_hosts(PRINCIPAL).add(sshd.host, sshd.port, host_key(sshd))
    await gateway.login(
        PRINCIPAL, "real", Credentials(ssh_user.name, password=ssh_user.password)
    )
    session = await gateway.open_terminal(PRINCIPAL, "real")
    screen = await attach(session)
    pid = await shell_pid(screen, session)
    server_side = int(Path(f"/proc/{pid}/stat").read_text().split()[3])

    # A stopped sshd keeps the TCP connection open but answers nothing, as a
    # frozen host or a silently dropped route does; only keepalives notice.
    os.kill(server_side, signal.SIGSTOP)
    try:
        message = await screen.wait_for_message("disconnect", timeout=20)
    finally:
        os.kill(server_side, signal.SIGCONT)

    assert "lost" in message[1]
