"""Capture the Debian samples in this folder from real logins on this machine.

Run as root from the repository root: ``python tests/system_samples/capture_debian.py``.
It makes a throwaway ``wbt-`` user with a long name, starts two private
test sshd processes (on 127.0.0.1 and on ::1), logs in with a terminal on
each, fails a password once on each, keeps one session open, and writes
what ``last``, ``lastb``, ``getent``, ``lastlog``, ``who`` and
``service --status-all`` print. The user and the servers are removed
afterwards. Only the lines of the throwaway user are kept from wtmp/btmp.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncssh

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from sshd import USER_COMMENT, LocalUser, SSHServer  # noqa: E402

NAME = "wbt-capture-long-user-name-01"
HEADER = "#@ Captured on Debian 12 (bookworm, util-linux 2.38.1) by capture_debian.py: {cmd}\n"


def run(cmd: str) -> str:
    return subprocess.run(
        ["sh", "-c", cmd],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout


def save(name: str, cmd: str, text: str) -> None:
    (HERE / name).write_text(HEADER.format(cmd=cmd) + text)


def only_ours(text: str) -> str:
    return "".join(
        line + "\n"
        for line in text.splitlines()
        if line.startswith(NAME) or "begins" in line or not line.strip()
    )


async def session(server: SSHServer, password: str, keep: bool) -> object:
    conn = await asyncssh.connect(
        server.host,
        server.port,
        username=NAME,
        password=password,
        known_hosts=None,
        config=None,
        client_keys=None,
        agent_path=None,
        preferred_auth="password",
    )
    process = await conn.create_process("sleep 60", term_type="xterm")
    await asyncio.sleep(0.5)
    if keep:
        return conn, process
    process.kill()
    conn.close()
    await conn.wait_closed()
    await asyncio.sleep(0.5)
    return None


async def fail(server: SSHServer) -> None:
    try:
        conn = await asyncssh.connect(
            server.host,
            server.port,
            username=NAME,
            password="wrong",
            known_hosts=None,
            config=None,
            client_keys=None,
            agent_path=None,
            preferred_auth="password",
        )
        conn.close()
    except asyncssh.PermissionDenied:
        pass


def make_user() -> LocalUser:
    subprocess.run(
        [
            "useradd",
            "-m",
            "-s",
            "/bin/bash",
            "-c",
            f"{USER_COMMENT}{os.getpid()}",
            NAME,
        ],
        check=True,
    )
    password = "Capture-" + os.urandom(6).hex()
    subprocess.run(["chpasswd"], input=f"{NAME}:{password}\n", text=True, check=True)
    user = LocalUser(NAME, password, Path("/home") / NAME)
    return user


async def main(user: LocalUser) -> None:
    password = user.password
    with tempfile.TemporaryDirectory() as tmp:
        v4 = SSHServer(Path(tmp) / "v4")
        v6 = SSHServer(Path(tmp) / "v6", host="::1")
        v4.start()
        v6.start()
        try:
            await fail(v4)
            await fail(v6)
            await session(v4, password, keep=False)
            await session(v6, password, keep=False)
            kept = await session(v4, password, keep=True)
            for name, cmd in {
                "debian12_last_iso.txt": "last --time-format iso -w -i -x",
                "debian12_last_full.txt": "last -F -w -i -x",
                "debian12_last_plain.txt": "last -w",
                "debian12_lastb_iso.txt": "lastb --time-format iso -w -i",
            }.items():
                save(name, cmd, only_ours(run(cmd)))
            save("debian12_who.txt", "who", run("who"))
            save("debian12_getent_passwd.txt", "getent passwd", run("getent passwd"))
            save("debian12_getent_group.txt", "getent group", run("getent group"))
            save("debian12_lastlog.txt", "lastlog", run("lastlog"))
            save(
                "debian12_service_status_all.txt",
                "service --status-all",
                run("service --status-all 2>&1"),
            )
            assert kept is not None
            conn, process = kept  # type: ignore[misc]
            process.kill()
            conn.close()
        finally:
            v4.stop()
            v6.stop()
            user.delete()


asyncio.run(main(make_user()))
