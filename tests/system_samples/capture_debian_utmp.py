"""Capture ``who`` on Debian 12 with a utmp, and ``last`` with a 32-character name.

Run as root from the repository root:
``python tests/system_samples/capture_debian_utmp.py``.

The test machine has no ``/run/utmp`` (a container); this makes one as
systemd-tmpfiles would (root:utmp, 0664) and removes it afterwards. A
throwaway user with a 32-character name (utmp's limit) logs in with a
terminal over ::1 and over 127.0.0.1 through two private test sshd
processes; both sessions are open while ``who`` and ``last`` run. Only the
throwaway user's lines are kept.
"""

from __future__ import annotations

import asyncio
import grp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncssh

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from sshd import USER_COMMENT, LocalUser, SSHServer  # noqa: E402

NAME = "wbt-debian12-capture-name-of-32c"
assert len(NAME) == 32
HEADER = (
    "#@ Captured on Debian 12 (bookworm; coreutils 9.1, util-linux 2.38.1, "
    "OpenSSH 9.2p1) by capture_debian_utmp.py: {cmd}\n"
)


def run(cmd: str) -> str:
    return subprocess.run(
        ["sh", "-c", cmd],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
    ).stdout


def save(name: str, cmd: str, text: str) -> None:
    kept = "".join(
        line + "\n"
        for line in text.splitlines()
        # util-linux 2.38 last shows the open sessions of a 32-character
        # name cut to 31 characters: keep those lines too.
        if line.startswith(NAME[:31]) or not line.strip() or "begins" in line
    )
    (HERE / name).write_text(HEADER.format(cmd=cmd) + kept)


async def login(server: SSHServer, password: str) -> tuple[object, object]:
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
    process = await conn.create_process("sleep 120", term_type="xterm")
    await asyncio.sleep(1.0)
    return conn, process


async def main(password: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        v6 = SSHServer(Path(tmp) / "v6", host="::1")
        v4 = SSHServer(Path(tmp) / "v4")
        v6.start()
        v4.start()
        try:
            sessions = [await login(v6, password), await login(v4, password)]
            save("debian12_who_utmp.txt", "who", run("who"))
            save("debian12_who_utmp_all.txt", "who -a", run("who -a"))
            # Outside the C locale coreutils prints ISO dates.
            save(
                "debian12_who_utmp_iso.txt",
                "LC_ALL=C.UTF-8 who",
                run("LC_ALL=C.UTF-8 who"),
            )
            save(
                "debian12_last_32c.txt",
                "last --time-format iso -w -i -x",
                run("last --time-format iso -w -i -x"),
            )
            for conn, process in sessions:
                process.kill()  # type: ignore[attr-defined]
                conn.close()  # type: ignore[attr-defined]
                await conn.wait_closed()  # type: ignore[attr-defined]
        finally:
            v4.stop()
            v6.stop()


def capture() -> None:
    utmp = Path("/run/utmp")
    made = not utmp.exists()
    if made:
        utmp.touch(mode=0o664)
        os.chown(utmp, 0, grp.getgrnam("utmp").gr_gid)
        utmp.chmod(0o664)
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
    user = LocalUser(NAME, "Capture-" + os.urandom(6).hex(), Path("/home") / NAME)
    subprocess.run(
        ["chpasswd"], input=f"{NAME}:{user.password}\n", text=True, check=True
    )
    try:
        asyncio.run(main(user.password))
    finally:
        user.delete()
        if made:
            utmp.unlink(missing_ok=True)


capture()
