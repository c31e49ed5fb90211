"""Tests of the built-in demo instance, driven by a real asyncssh client."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
import pytest_asyncio

from jupyter_workbench.gateway.demo import DemoInstance

# Explicit, so the tests run whether pytest-asyncio is in strict or auto mode.
pytestmark = pytest.mark.asyncio

TIMEOUT = 20.0


@pytest_asyncio.fixture
async def demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DemoInstance]:
    # A private home keeps the shell free of the real user's profile and
    # gives SFTP a directory whose contents the test knows.
    monkeypatch.setenv("HOME", str(tmp_path))
    instance = await DemoInstance.start(shell="/bin/bash")
    yield instance
    instance.close()
    await instance.wait_closed()


async def connect(
    demo: DemoInstance, **options: object
) -> asyncssh.SSHClientConnection:
    settings: dict[str, object] = {
        "username": demo.username,
        "password": demo.password,
        "known_hosts": ([demo.host_key], [], []),
        "client_keys": None,
        "agent_path": None,
        "config": [],
    }
    settings.update(options)
    return await asyncssh.connect(demo.host, demo.port, **settings)


async def open_shell(
    conn: asyncssh.SSHClientConnection, **options: object
) -> asyncssh.SSHClientProcess[bytes]:
    settings: dict[str, object] = {
        "term_type": "xterm-256color",
        "term_size": (80, 24),
        "encoding": None,
    }
    settings.update(options)
    return await conn.create_process(**settings)


async def read_until(process: asyncssh.SSHClientProcess[bytes], marker: bytes) -> bytes:
    """Read terminal output until `marker` appears; fail after TIMEOUT."""
    seen = b""

    async def collect() -> None:
        nonlocal seen
        while marker not in seen:
            data = await process.stdout.read(4096)
            if not data:
                raise AssertionError(f"Session ended before {marker!r}: {seen!r}")
            seen += data

    await asyncio.wait_for(collect(), TIMEOUT)
    return seen


async def wait_gone(pid: int) -> None:
    """Wait until process `pid` no longer exists (exited and reaped)."""
    for _ in range(int(TIMEOUT / 0.05)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"Process {pid} is still there")


async def run_in_shell(
    process: asyncssh.SSHClientProcess[bytes], command: bytes
) -> bytes:
    """Type `command` and return the output up to its end marker.

    The marker is computed by the shell, so the terminal's echo of the typed
    line never matches it.
    """
    process.stdin.write(command + b"; echo END$((40+2))\n")
    return await read_until(process, b"END42\r\n")


async def shell_pid(process: asyncssh.SSHClientProcess[bytes]) -> int:
    output = await run_in_shell(process, b"echo PID=$$")
    match = re.search(rb"PID=(\d+)", output)
    assert match, output
    return int(match.group(1))


async def test_host_key_is_ed25519_with_sha256_fingerprint(demo: DemoInstance) -> None:
    assert demo.host == "127.0.0.1"
    assert demo.port > 0
    assert demo.host_key.algorithm == b"ssh-ed25519"
    assert demo.host_key_fingerprint.startswith("SHA256:")
    assert demo.known_hosts_line.startswith(f"[127.0.0.1]:{demo.port} ssh-ed25519 ")
    assert demo.password not in repr(demo)


async def test_wrong_password_is_refused(demo: DemoInstance) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(demo, password=demo.password + "x")


async def test_other_username_is_refused(demo: DemoInstance) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(demo, username=demo.username + "x")


async def test_keyboard_interactive_is_not_offered(demo: DemoInstance) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(demo, preferred_auth="keyboard-interactive")


async def test_other_host_key_is_refused_by_client(demo: DemoInstance) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(demo, known_hosts=([other], [], []))


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "localhost", "10.0.0.5"])
async def test_non_loopback_bind_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        await DemoInstance.start(host)


async def test_shell_round_trip_on_a_pty(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        process = await open_shell(conn)
        process.stdin.write(b"echo $((6*7))\n")

        output = await read_until(process, b"42\r\n")

        # Bash wraps command output in bracketed-paste toggles ending in \r.
        assert re.search(rb"[\r\n]42\r\n", output)


async def test_shell_has_controlling_terminal_term_and_locale(
    demo: DemoInstance,
) -> None:
    async with await connect(demo) as conn:
        process = await open_shell(conn)
        output = await run_in_shell(
            process, b"exec 3</dev/tty && echo tty=ok term=$TERM lang=$LANG."
        )

        assert b"tty=ok term=xterm-256color lang=C.UTF-8." in output


async def test_resize_is_visible_to_stty_size(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        process = await open_shell(conn)
        process.stdin.write(b"stty size\n")
        await read_until(process, b"24 80\r\n")

        process.change_terminal_size(132, 43)
        process.stdin.write(b"stty size\n")

        await read_until(process, b"43 132\r\n")


async def test_multibyte_text_split_across_writes_is_echoed_intact(
    demo: DemoInstance,
) -> None:
    text = "héllo wörld ✓ 日本語 🚀".encode()
    async with await connect(demo) as conn:
        process = await open_shell(conn)
        # Wait for readline's prompt: text typed ahead of it is echoed by
        # the terminal itself, and the prompt can land inside a character.
        process.stdin.write(b"PS1='READY$((1+1))> '\n")
        await read_until(process, b"READY2> ")
        process.stdin.write(b"echo '")
        # Split inside the four-byte rocket.
        process.stdin.write(text[:-2])
        await asyncio.sleep(0.05)
        process.stdin.write(text[-2:] + b"'.\n")

        output = await read_until(process, text + b".\r\n")

        assert text.decode() in output.decode("utf-8")


async def test_exec_passes_exit_status_and_separate_stderr(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        result = await conn.run("echo out; echo err >&2; exit 3", encoding="utf-8")

        assert result.exit_status == 3
        assert result.stdout == "out\n"
        assert result.stderr == "err\n"


async def test_exec_reads_stdin_until_eof(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        result = await conn.run("wc -c", input="abcdef", encoding="utf-8")

        assert result.exit_status == 0
        assert str(result.stdout).strip() == "6"


async def test_exec_uname(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        result = await conn.run("uname", encoding="utf-8")

        assert result.exit_status == 0
        assert str(result.stdout).strip() == os.uname().sysname


async def test_exec_on_a_pty_reports_exit_status(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        result = await conn.run("test -t 0 && exit 7", term_type="xterm")

        assert result.exit_status == 7


async def test_shell_exit_closes_session_with_status(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        process = await open_shell(conn)
        process.stdin.write(b"exit 5\n")

        result = await asyncio.wait_for(process.wait(), TIMEOUT)

        assert result.exit_status == 5


async def test_signal_death_is_reported_as_exit_signal(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        result = await conn.run("kill -TERM $$")

        assert result.exit_signal is not None
        assert result.exit_signal[0] == "TERM"


async def test_shell_without_pty_runs_on_pipes(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        process = await conn.create_process(encoding="utf-8")
        process.stdin.write("tty; echo $((6*7))\n")
        process.stdin.write_eof()

        result = await asyncio.wait_for(process.wait(), TIMEOUT)

        assert result.exit_status == 0
        assert str(result.stdout).splitlines() == ["not a tty", "42"]


async def test_unknown_subsystem_is_refused(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        process = await conn.create_process(subsystem="nosuch", encoding="utf-8")

        result = await asyncio.wait_for(process.wait(), TIMEOUT)

        assert result.exit_status == 1
        assert "subsystem 'nosuch' is not available" in str(result.stderr)


async def test_sftp_lists_the_home_directory(
    demo: DemoInstance, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    async with await connect(demo) as conn, conn.start_sftp_client() as sftp:
        names = set(await sftp.listdir())

        assert names - {".", ".."} == {"notes.txt"}
        assert await sftp.realpath(".") == str(tmp_path)


async def test_port_forwarding_is_refused(demo: DemoInstance) -> None:
    async with await connect(demo) as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection(demo.host, demo.port)


async def test_sessions_beyond_the_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    async with await DemoInstance.start(shell="/bin/bash", max_sessions=1) as demo:
        async with await connect(demo) as conn:
            first = await open_shell(conn)
            await shell_pid(first)

            second = await conn.run("true", encoding="utf-8")

            assert second.exit_status == 1
            assert "too many sessions" in str(second.stderr)


async def test_missing_shell_is_reported_with_status_127(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    missing = str(tmp_path / "no-such-shell")
    async with await DemoInstance.start(shell=missing) as demo:
        async with await connect(demo) as conn:
            result = await conn.run("true", encoding="utf-8")

            assert result.exit_status == 127
            assert f"cannot start {missing}" in str(result.stderr)


async def test_client_disconnect_hangs_up_the_shell(demo: DemoInstance) -> None:
    conn = await connect(demo)
    process = await open_shell(conn)
    pid = await shell_pid(process)

    conn.close()
    await conn.wait_closed()

    await wait_gone(pid)


async def test_close_leaves_no_shell_behind(demo: DemoInstance) -> None:
    conn = await connect(demo)
    process = await open_shell(conn)
    pid = await shell_pid(process)
    output = await run_in_shell(process, b"sleep 600 & echo BG=$!")
    background = int(re.search(rb"BG=(\d+)", output).group(1))  # type: ignore[union-attr]
    process.stdin.write(b"sleep 601\n")

    demo.close()
    await asyncio.wait_for(demo.wait_closed(), TIMEOUT)

    # The shell is our child: gone means exited and reaped.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await wait_gone(background)
    conn.close()
    await conn.wait_closed()


async def test_password_is_never_logged(
    demo: DemoInstance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with await connect(demo) as conn:
        await conn.run("true")
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(demo, password=demo.password + "x")

    assert "Demo login accepted" in caplog.text
    assert "Demo login refused" in caplog.text
    assert demo.password not in caplog.text
