"""Give a test user sudo rights for the duration of a test, with a real sudoers.d file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sshd import LocalUser

SUDOERS_D = Path("/etc/sudoers.d")


@contextmanager
def sudo_rule(user: LocalUser, *, nopasswd: bool = False) -> Iterator[Path]:
    """Let *user* run anything through sudo (asking its password unless *nopasswd*).

    The rule is written to a hidden draft (sudo skips names with a dot),
    mode 0440, checked with ``visudo -cf`` and only then renamed into
    place; it is removed on exit. A draft that does not validate never
    becomes active.
    """
    rule = SUDOERS_D / user.name
    draft = SUDOERS_D / f".{user.name}.draft"
    tag = "NOPASSWD: " if nopasswd else ""
    draft.write_text(f"{user.name} ALL=(ALL:ALL) {tag}ALL\n")
    draft.chmod(0o440)
    try:
        subprocess.run(["visudo", "-cf", str(draft)], check=True, capture_output=True)
        draft.rename(rule)
        yield rule
    finally:
        draft.unlink(missing_ok=True)
        rule.unlink(missing_ok=True)
