"""User accounts on an instance: list, create, delete, lock, passwords, sudo rights."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from . import commands
from .errors import SystemCommandFailed, SystemInputError, ToolMissing
from .models import UserInfo
from .parsers import (
    build_users,
    parse_group,
    parse_last,
    parse_lastlog,
    parse_passwd,
    parse_shadow,
    parse_sudoers,
)
from .shell import RemoteShell

log = logging.getLogger(__name__)

_SECTIONS = ("passwd", "group", "shadow", "sudoers", "lastlog", "wtmpdb", "uidmin")

_LIST_SCRIPT = """\
echo @@passwd; getent passwd || cat /etc/passwd
echo @@group; getent group || cat /etc/group
echo @@uidmin; sed -n 's/^UID_MIN[[:space:]]*//p' /etc/login.defs 2>/dev/null
echo @@lastlog; lastlog 2>/dev/null
echo @@wtmpdb
command -v lastlog >/dev/null 2>&1 || wtmpdb last --time-format iso -w -i 2>/dev/null
"""

_PRIVILEGED_SCRIPT = """\
echo @@shadow; getent shadow 2>/dev/null || cat /etc/shadow
echo @@sudoers; cat /etc/sudoers /etc/sudoers.d/* 2>/dev/null
"""


async def list_users(shell: RemoteShell) -> list[UserInfo]:
    """Return every account, joined with groups, shadow, sudoers and last logins.

    Without root rights (no sudo password given), ``locked`` and
    ``has_password`` are ``None`` and ``sudo`` counts sudo groups only.
    """
    facts = await shell.facts()
    if not facts.has("getent") and not facts.busybox:
        log.debug("No getent on %s: reading /etc/passwd", shell.instance)
    result = await shell.run(_LIST_SCRIPT, check=False)
    sections = _split(result.stdout)
    shadow = sudoers = None
    if await shell.can_be_root():
        private = _split(
            (await shell.run(_PRIVILEGED_SCRIPT, root=True, check=False)).stdout
        )
        shadow = parse_shadow(private["shadow"])
        sudoers = parse_sudoers(private["sudoers"])
    uid_min = sections["uidmin"].strip()
    today = int(facts.now.timestamp() // 86400) if facts.now else None
    users = build_users(
        parse_passwd(sections["passwd"]),
        parse_group(sections["group"]),
        shadow=shadow,
        sudoers=sudoers,
        today=today,
        uid_min=int(uid_min) if uid_min.isdigit() else 1000,
    )
    last = parse_lastlog(sections["lastlog"])
    # Debian 13 has no lastlog: the newest wtmpdb login of each user.
    for record in reversed(parse_last(sections["wtmpdb"], now=facts.now)):
        if record.kind == "login":
            last[record.user] = (record.start, record.source)
    for user in users:
        if user.name in last:
            user.last_login, user.last_login_from = last[user.name]
    return users


async def create_user(
    shell: RemoteShell,
    name: str,
    *,
    home: bool = True,
    shell_path: str | None = None,
    groups: Sequence[str] = (),
    comment: str | None = None,
    authorized_key: str | None = None,
    password: str | None = None,
) -> UserInfo:
    """Add an account; optionally its authorized key and password.

    Raises
    ------
    SystemInputError
        On a bad name, shell, group, comment, key or password (before
        anything runs), or when the user exists already.
    """
    commands.check_name(name)
    for group in groups:
        commands.check_name(group, "group name")
    if shell_path is not None:
        commands.check_shell(shell_path)
    if comment is not None:
        commands.check_comment(comment)
    key = commands.check_authorized_key(authorized_key) if authorized_key else None
    if password is not None:
        commands.check_password(password)
    if key is not None and not home:
        raise SystemInputError("An authorized key needs a home folder: keep 'home' on")

    if await _find(shell, name) is not None:
        raise SystemInputError(f"User {name} exists already on {shell.instance}")
    facts = await shell.facts()
    script = commands.create_user(
        facts, name, home=home, shell=shell_path, groups=groups, comment=comment
    )
    await shell.run(script, root=True, what=f"Adding user {name}")
    if key is not None:
        await shell.run(
            commands.add_authorized_key(name),
            stdin=key + "\n",
            root=True,
            what=f"Writing {name}'s authorized_keys",
        )
    if password is not None:
        await set_password(shell, name, password)
    log.info("Created user %s on %s", name, shell.instance)
    return await _require(shell, name)


async def delete_user(
    shell: RemoteShell, name: str, *, remove_home: bool = False
) -> None:
    """Remove an account, keeping its home unless *remove_home*.

    Raises
    ------
    SystemInputError
        For root, for the login user itself, and for an unknown user.
    SystemCommandFailed
        When the user still has processes (userdel refuses): end them first.
    """
    user = await _require(shell, commands.check_name(name))
    facts = await shell.facts()
    if user.uid == 0:
        raise SystemInputError(f"Refusing to delete {name}: it has uid 0 (root)")
    if name == facts.login_user:
        raise SystemInputError(
            f"Refusing to delete {name}: it is the user this login runs as"
        )
    try:
        await shell.run(
            commands.delete_user(facts, name, remove_home=remove_home),
            root=True,
            what=f"Deleting user {name}",
        )
    except SystemCommandFailed as exc:
        if "currently used by process" in exc.details.get("stderr", ""):
            exc.message += (
                f". {name} is logged in or runs processes: end them (or lock the "
                "account and wait), then delete it"
            )
            exc.args = (exc.message,)
        raise
    log.info(
        "Deleted user %s on %s (home %s)",
        name,
        shell.instance,
        "removed" if remove_home else "kept",
    )


async def lock_user(shell: RemoteShell, name: str, *, lock: bool = True) -> UserInfo:
    """Lock (or unlock) an account: no password or key logins while locked."""
    await _require(shell, commands.check_name(name))
    facts = await shell.facts()
    await shell.run(
        commands.lock_user(facts, name, lock=lock),
        root=True,
        what=f"{'Locking' if lock else 'Unlocking'} user {name}",
    )
    log.info("%s user %s on %s", "Locked" if lock else "Unlocked", name, shell.instance)
    return await _require(shell, name)


async def set_password(shell: RemoteShell, name: str, password: str) -> None:
    """Set the user's password (through chpasswd's stdin, never a command line)."""
    commands.check_name(name)
    commands.check_password(password)
    await _require(shell, name)
    facts = await shell.facts()
    await shell.run(
        commands.set_password(facts),
        stdin=f"{name}:{password}\n",
        root=True,
        what=f"Setting {name}'s password",
    )
    log.info("Set the password of %s on %s", name, shell.instance)


async def set_sudo(shell: RemoteShell, name: str, *, grant: bool) -> UserInfo:
    """Add the user to the sudo group (``sudo``, else ``wheel``), or remove it."""
    user = await _require(shell, commands.check_name(name))
    facts = await shell.facts()
    groups = parse_group((await shell.run("getent group || cat /etc/group")).stdout)
    group = next((g for g in ("sudo", "wheel") if g in groups), None)
    if group is None:
        raise ToolMissing(
            f"{shell.instance} has neither a 'sudo' nor a 'wheel' group: create one "
            "and allow it in the sudoers first"
        )
    if grant == (group in user.groups):
        return user
    await shell.run(
        commands.change_group(facts, name, group, add=grant),
        root=True,
        what=f"{'Adding' if grant else 'Removing'} {name} {'to' if grant else 'from'} {group}",
    )
    log.info(
        "%s %s in group %s on %s",
        "Added" if grant else "Removed",
        name,
        group,
        shell.instance,
    )
    return await _require(shell, name)


async def _find(shell: RemoteShell, name: str) -> UserInfo | None:
    users = await list_users(shell)
    return next((u for u in users if u.name == name), None)


async def _require(shell: RemoteShell, name: str) -> UserInfo:
    user = await _find(shell, name)
    if user is None:
        raise SystemInputError(
            f"There is no user {name} on {shell.instance}", user=name
        )
    return user


def _split(text: str) -> dict[str, str]:
    sections = dict.fromkeys(_SECTIONS, "")
    current = None
    for line in text.splitlines(keepends=True):
        if line.startswith("@@") and line.strip()[2:] in sections:
            current = line.strip()[2:]
            continue
        if current is not None:
            sections[current] += line
    return sections


__all__ = [
    "create_user",
    "delete_user",
    "list_users",
    "lock_user",
    "set_password",
    "set_sudo",
]
