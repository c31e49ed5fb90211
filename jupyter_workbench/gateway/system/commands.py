"""Check names and values from clients, and build the shell scripts that use them.

Every value that reaches a script is first checked against a strict
pattern here and then quoted with `shlex.quote`; secrets and keys never
appear in a script at all (they go to the command's stdin). Builders pick
the program the instance has (shadow-utils, BusyBox, systemd, SysV,
OpenRC) and raise `ToolMissing` naming what is needed when none is there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from shlex import quote

from .detect import is_applet
from .errors import SystemInputError, ToolMissing
from .models import SystemFacts

# POSIX portable names plus what shadow-utils accepts; no leading dash (an
# option) or dot, at most 32 characters (utmp and most tools' limit).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}\$?")
_SERVICE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@:+\\-]{0,254}")
_KEY = re.compile(
    r"(?:(?:sk-)?(?:ssh|ecdsa)-[a-z0-9@.-]+|[a-z0-9-]+@openssh\.com) [A-Za-z0-9+/=]+(?: [^\r\n]*)?"
)

USER_ACTIONS = ("lock", "unlock", "password", "grant-sudo", "revoke-sudo")
SERVICE_ACTIONS = ("start", "stop", "restart", "reload", "enable", "disable")


def check_name(value: object, what: str = "user name") -> str:
    """Return *value* if it is a safe user or group name.

    Raises
    ------
    SystemInputError
        When it is empty, too long, starts with ``-`` or ``.``, or has
        other characters than letters, digits, ``_``, ``.`` and ``-``.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SystemInputError(
            f"{value!r} is not a valid {what}: use up to 32 letters, digits, '_', "
            "'.' and '-', not starting with '-' or '.'",
            value=str(value)[:64],
        )
    return value


def check_service(value: object) -> str:
    """Return *value* if it is a safe service or unit name.

    Raises
    ------
    SystemInputError
        When it is not a plain service name.
    """
    if not isinstance(value, str) or not _SERVICE.fullmatch(value):
        raise SystemInputError(
            f"{value!r} is not a valid service name: use letters, digits and "
            "'_.@:+-', not starting with '-' or '.'",
            value=str(value)[:64],
        )
    return value


def check_shell(value: object) -> str:
    """Return *value* if it is an absolute path without spaces or quotes."""
    if not isinstance(value, str) or not re.fullmatch(
        r"/[A-Za-z0-9_./+-]{1,254}", value
    ):
        raise SystemInputError(
            f"{value!r} is not a valid login shell: give an absolute path such as "
            "/bin/bash",
            value=str(value)[:64],
        )
    return value


def check_comment(value: object) -> str:
    """Return *value* if it fits the passwd comment (GECOS) field."""
    if (
        not isinstance(value, str)
        or len(value) > 200
        or re.search(r"[:\n\r\x00]", value)
    ):
        raise SystemInputError(
            "The comment must be text of at most 200 characters without ':' or "
            "line breaks"
        )
    return value


def check_password(value: object) -> str:
    """Return *value* if chpasswd can take it (never shown in the error)."""
    if not isinstance(value, str) or not value or re.search(r"[\n\r\x00]", value):
        raise SystemInputError(
            "The password must be non-empty text without line breaks"
        )
    return value


def check_authorized_key(value: object) -> str:
    """Return *value* if it is one OpenSSH public key line."""
    if not isinstance(value, str) or not _KEY.fullmatch(value.strip()):
        raise SystemInputError(
            "The authorized key must be one OpenSSH public key line, such as "
            "'ssh-ed25519 AAAA... comment'"
        )
    return value.strip()


# -- users ----------------------------------------------------------------


def create_user(
    facts: SystemFacts,
    name: str,
    *,
    home: bool = True,
    shell: str | None = None,
    groups: Sequence[str] = (),
    comment: str | None = None,
) -> str:
    """Return the script that adds the account (no password: it is locked)."""
    q = quote(name)
    if facts.has("useradd"):
        args = ["useradd", "--create-home" if home else "--no-create-home"]
        if shell:
            args += ["--shell", quote(shell)]
        if groups:
            args += ["--groups", quote(",".join(groups))]
        if comment is not None:
            args += ["--comment", quote(comment)]
        return " ".join([*args, "--", q])
    if facts.has("adduser") and is_applet(facts, "adduser"):
        # BusyBox: -D no password, -H no home; groups are added one by one.
        args = ["adduser", "-D"] + ([] if home else ["-H"])
        if shell:
            args += ["-s", quote(shell)]
        if comment is not None:
            args += ["-g", quote(comment)]
        lines = [" ".join([*args, q])]
        lines += [f"addgroup {q} {quote(g)}" for g in groups]
        return " && ".join(lines)
    raise _missing(facts, "add users", "useradd (shadow-utils) or BusyBox adduser")


def add_authorized_key(name: str) -> str:
    """Return the script that appends stdin to the user's authorized_keys."""
    q = quote(name)
    return (
        f'home=$(getent passwd {q} | cut -d: -f6) && [ -n "$home" ] && [ -d "$home" ]'
        ' && umask 077 && mkdir -p "$home/.ssh" && cat >> "$home/.ssh/authorized_keys"'
        f' && chown {q}: "$home/.ssh" "$home/.ssh/authorized_keys"'
    )


def delete_user(facts: SystemFacts, name: str, *, remove_home: bool) -> str:
    """Return the script that removes the account (and its home when asked)."""
    q = quote(name)
    if facts.has("userdel"):
        return f"userdel {'--remove ' if remove_home else ''}-- {q}"
    if facts.has("deluser") and is_applet(facts, "deluser"):
        return f"deluser {'--remove-home ' if remove_home else ''}{q}"
    raise _missing(facts, "delete users", "userdel or BusyBox deluser")


def lock_user(facts: SystemFacts, name: str, *, lock: bool) -> str:
    """Return the script that locks (or unlocks) the account.

    shadow-utils locks the password *and* expires the account, so that
    key logins are refused too (``usermod -L`` alone leaves them working);
    unlocking reverses both. BusyBox ``passwd -l`` only locks the password.
    """
    q = quote(name)
    if facts.has("usermod") and not is_applet(facts, "usermod"):
        return f"usermod -L -e 1 -- {q}" if lock else f"usermod -U -e '' -- {q}"
    if facts.has("passwd"):
        return f"passwd {'-l' if lock else '-u'} {q}"
    raise _missing(facts, "lock users", "usermod or passwd")


def set_password(facts: SystemFacts) -> str:
    """Return the script that sets a password from ``user:password`` on stdin."""
    if facts.has("chpasswd"):
        return "chpasswd"
    raise _missing(facts, "set passwords", "chpasswd")


def change_group(facts: SystemFacts, name: str, group: str, *, add: bool) -> str:
    """Return the script that adds the user to *group* (or removes it)."""
    q, g = quote(name), quote(group)
    if facts.has("gpasswd"):
        return f"gpasswd {'-a' if add else '-d'} {q} {g} >/dev/null"
    if add and facts.has("usermod") and not is_applet(facts, "usermod"):
        return f"usermod -a -G {g} -- {q}"
    if facts.has("addgroup") and is_applet(facts, "addgroup"):
        return f"addgroup {q} {g}" if add else f"delgroup {q} {g}"
    raise _missing(facts, "change group membership", "gpasswd, usermod or BusyBox")


# -- services -------------------------------------------------------------


def service_action(facts: SystemFacts, name: str, action: str) -> str:
    """Return the script for start, stop, restart, reload, enable or disable."""
    if action not in SERVICE_ACTIONS:
        raise SystemInputError(
            f"Unknown service action {action!r}: use one of {', '.join(SERVICE_ACTIONS)}"
        )
    q = quote(name)
    if facts.init == "systemd":
        return f"systemctl {action} -- {q}"
    if facts.init == "openrc":
        if action in ("enable", "disable"):
            verb = "add" if action == "enable" else "del"
            return f"rc-update {verb} {q} default"
        return f"rc-service {q} {action}"
    if action in ("enable", "disable"):
        if facts.has("update-rc.d"):
            return f"update-rc.d {q} defaults >/dev/null && update-rc.d {q} {action}"
        if facts.has("chkconfig"):
            return f"chkconfig {q} {'on' if action == 'enable' else 'off'}"
        raise _missing(facts, "enable or disable services", "update-rc.d or chkconfig")
    script = "/etc/init.d/" + name
    return (
        f"[ -x {quote(script)} ] || {{ echo 'no init script {name}' >&2; exit 4; }}; "
        f"{quote(script)} {action}"
    )


def _missing(facts: SystemFacts, what: str, needs: str) -> ToolMissing:
    return ToolMissing(
        f"Cannot {what} on this {facts.pretty_name} instance: it has no {needs}. "
        "Install the package that provides it",
        needs=needs,
        distro=facts.distro,
    )


__all__ = [
    "SERVICE_ACTIONS",
    "USER_ACTIONS",
    "add_authorized_key",
    "change_group",
    "check_authorized_key",
    "check_comment",
    "check_name",
    "check_password",
    "check_service",
    "check_shell",
    "create_user",
    "delete_user",
    "lock_user",
    "service_action",
    "set_password",
]
