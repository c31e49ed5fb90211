"""The ``%workbench`` sub-commands: their usage, help text and tab completion.

One table, `SUBCOMMANDS`, says what each sub-command takes; the help texts
and the completer are read from it, so a new sub-command is one entry here
plus its ``_name`` method in `magics.py`.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..gateway.errors import WorkbenchError
from ..gateway.policy import ACTIONS

log = logging.getLogger(__name__)

#: What a positional argument is, for completion.
INSTANCE = "instance"  # one instance name
TARGETS = "targets"  # names, comma-separated, globs, all
REMOTE = "remote"  # HOSTS:PATH
LOCAL = "local"  # a local path (IPython's own file completion)
UPLOAD = "upload"  # local paths, then HOSTS:DIR last
ACTION = "action"  # a policy action
SUBCOMMAND = "subcommand"
VERB = "verb"  # a fixed word, given in `SubCommand.words`
NOTHING = ""


@dataclass(frozen=True)
class SubCommand:
    """One ``%workbench`` sub-command.

    Attributes
    ----------
    name : str
        What is typed after ``%workbench``.
    usage : str
        The arguments, as in a man page's synopsis.
    summary : str
        One line for the overview.
    details : str
        The rest of ``%workbench help NAME``: arguments, options, examples.
    args : tuple of str
        What each positional argument completes to; the last one repeats.
    options : tuple of str
        The ``--options`` it takes, for completion.
    words : tuple of str
        The fixed words a `VERB` argument accepts.
    """

    name: str
    usage: str
    summary: str
    details: str = ""
    args: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    @property
    def synopsis(self) -> str:
        return f"%workbench {self.name} {self.usage}".rstrip()


SUBCOMMANDS: dict[str, SubCommand] = {
    s.name: s
    for s in (
        SubCommand(
            "hosts",
            "",
            "list instances and your login state",
            "Returns the instances as a table (.to_dataframe() for pandas).",
        ),
        SubCommand(
            "connect",
            "[NAME]",
            "log in with a form, then open a terminal in the output",
            "Without NAME the form starts with an instance picker. The form asks\n"
            "for the user, a password or key file with its passphrase, and shows\n"
            "the host key's fingerprint on first contact. Already logged in (or\n"
            "the demo instance): the terminal opens at once.",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "terminal",
            "NAME",
            "a terminal on NAME in the cell's output (log in first)",
            "The terminal reattaches, with its scrollback, when the page reloads.",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "login",
            "NAME [USER]",
            "log in (asks for the password; the demo needs none)",
            "USER defaults to the inventory's user for NAME, else your own name.\n"
            "On first contact the host key's fingerprint is shown: check it,\n"
            "then call wb.accept_host_key(NAME, FINGERPRINT) and log in again.\n"
            "Keys and agents: wb.login(NAME, USER, key=..., passphrase=...).",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "logout",
            "NAME",
            "close your connections and terminals on NAME",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "diagnose",
            "NAME",
            "resolve, route, TCP, SSH and auth, step by step",
            "Each step says what it found and, when it fails, what to change.",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "run",
            "TARGETS [OPTIONS] -- COMMAND",
            "run COMMAND on many instances at once",
            "TARGETS: names, globs (web-*), ranges (web[01-20]), tags (env=prod),\n"
            "groups (@db), all; comma-separated, !name leaves one out.\n"
            "Options: --timeout S (per host), --connect-timeout S,\n"
            "--concurrency N, --budget N or N% (stop after that many failures),\n"
            "--cwd DIR, --sudo (asks for the sudo password), --quiet.\n"
            "As a cell magic the cell body is the script:\n"
            "    %%workbench run env=prod --timeout 60\n"
            "    apt-get -qq update\n"
            "Output shows live as 'host | line'; the result is a RunResult.",
            args=(TARGETS, NOTHING),
            options=(
                "--timeout",
                "--connect-timeout",
                "--concurrency",
                "--budget",
                "--cwd",
                "--sudo",
                "--quiet",
            ),
        ),
        SubCommand(
            "upload",
            "LOCAL... HOSTS:DIR",
            "upload local files (globs) to DIR on one or more hosts",
            "HOSTS: names or globs, comma-separated (web-1,web-2 or web-*).\n"
            "Files land under a temporary name and replace the old one when\n"
            "complete. Example: %workbench upload *.csv web-*:/data",
            args=(UPLOAD,),
        ),
        SubCommand(
            "download",
            "HOSTS:PATH [LOCAL]",
            "download a file, folder or glob (one subfolder per host)",
            "LOCAL defaults to the notebook's folder.\n"
            "Example: %workbench download web-1:/var/log/*.log logs/",
            args=(REMOTE, LOCAL, NOTHING),
        ),
        SubCommand(
            "users",
            "NAME",
            "accounts on NAME (groups, locked, sudo, last login)",
            "Changes: wb.system(NAME).create_user(...), lock_user, set_password, ...",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "logons",
            "NAME [USER]",
            "logon history of NAME, failed logins included",
            "More filters: wb.logons(NAME, user=..., source='10.0.0.0/8', since=...).",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "services",
            "NAME",
            "services of NAME with state and boot setting",
            "Changes: wb.system(NAME).restart_service(...), enable_service, ...",
            args=(INSTANCE, NOTHING),
        ),
        SubCommand(
            "rdp",
            "NAME [USER] [OPTIONS]",
            "the remote desktop of a Windows (RDP) instance in the output",
            "Asks for the password; it goes to the Jupyter server only. USER\n"
            "defaults to the inventory's user for NAME.\n"
            "Options: --domain D (the Windows domain), --size WxH (the desktop\n"
            "in pixels, default 1024x768).\n"
            "Needs the Jupyter server and a guacd it can reach (see README).",
            args=(INSTANCE, NOTHING),
            options=("--domain", "--size"),
        ),
        SubCommand(
            "policy",
            "check USER ACTION NAME",
            "may USER do ACTION (e.g. LoginInstance) on NAME, and why?",
            "ACTION: " + ", ".join(a.split(":", 1)[1] for a in ACTIONS) + ".\n"
            "Asking about another user needs an administrator.",
            args=(VERB, NOTHING, ACTION, INSTANCE, NOTHING),
            words=("check",),
        ),
        SubCommand(
            "help",
            "[SUB-COMMAND]",
            "this list, or one sub-command's help",
            "Every sub-command also takes -h or --help.",
            args=(SUBCOMMAND, NOTHING),
        ),
    )
}


class UsageError(WorkbenchError):
    """A sub-command was typed with the wrong arguments."""

    code = "usage"

    def __init__(self, name: str, problem: str = "") -> None:
        problem = problem or f"wrong arguments for '{name}'"
        super().__init__(
            f"{problem}; usage: {SUBCOMMANDS[name].synopsis} "
            f"(%workbench help {name} explains)",
            subcommand=name,
        )


def unknown(name: str) -> WorkbenchError:
    """Return the error for a sub-command that does not exist, with a suggestion."""
    close = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return WorkbenchError(
        f"unknown sub-command '{name}'; {hint}%workbench help lists them"
    )


def overview() -> str:
    """Return the list of every sub-command with its synopsis and summary."""
    width = max(len(s.synopsis) for s in SUBCOMMANDS.values())
    lines = [f"{s.synopsis:<{width}}  {s.summary}" for s in SUBCOMMANDS.values()]
    return "\n".join(
        [
            *lines,
            "",
            "%workbench help SUB-COMMAND (or SUB-COMMAND --help) tells more.",
            "Tab completes sub-commands, instance names and options.",
        ]
    )


def help_text(name: str) -> str:
    """Return ``%workbench help NAME``.

    Raises
    ------
    WorkbenchError
        When *name* is not a sub-command.
    """
    sub = SUBCOMMANDS.get(name)
    if sub is None:
        raise unknown(name)
    text = f"{sub.synopsis}\n    {sub.summary}"
    if sub.details:
        text += "\n\n" + "\n".join(f"    {line}" for line in sub.details.split("\n"))
    return text


#: ``%workbench ...`` or ``%%workbench ...``, also as ``x = %workbench ...``.
_LINE = re.compile(
    r"^\s*(?:[A-Za-z_][\w.]*\s*=\s*)?%%?workbench(?P<rest>\s.*)?$", re.DOTALL
)


@dataclass(frozen=True)
class Completions:
    """What to offer for the word before the cursor.

    Attributes
    ----------
    fragment : str
        The text that a completion replaces (the word being typed).
    matches : list of str
        The candidates, each starting with *fragment*.
    exclusive : bool
        True when nothing else (Python names, files) makes sense here.
    """

    fragment: str
    matches: list[str]
    exclusive: bool = True


def complete(before: str, names: Callable[[], Sequence[str]]) -> Completions | None:
    """Complete a ``%workbench`` line; *before* is its text up to the cursor.

    *names* returns the instance names; it is only called when an instance
    name can come next. Returns None when *before* is not a ``%workbench``
    line, or when IPython's own completion (local files, a run's shell
    command) fits better.
    """
    match = _LINE.match(before)
    if match is None or match.group("rest") is None:
        return None
    rest = match.group("rest")
    words = rest.split()
    fragment = "" if rest[-1:].isspace() else words[-1]
    done = words[:-1] if fragment else words
    if not done:
        return _filtered(fragment, list(SUBCOMMANDS))
    sub = SUBCOMMANDS.get(done[0])
    if sub is None or (sub.name == "run" and "--" in done):
        return None
    if fragment.startswith("-"):
        return _filtered(fragment, ["--help", *sub.options])
    index = len(_positional(done[1:], sub))
    kind = (sub.args or (NOTHING,))[min(index, len(sub.args) - 1)]
    return _for_kind(kind, fragment, sub, names)


def _positional(args: list[str], sub: SubCommand) -> list[str]:
    # Options that take a value swallow the next word.
    flags = {"--sudo", "--quiet", "--help", "-h"}
    positional, skip = [], False
    for word in args:
        if skip:
            skip = False
        elif word.startswith("-") and word in sub.options and word not in flags:
            skip = True
        elif not word.startswith("-"):
            positional.append(word)
    return positional


def _for_kind(
    kind: str, fragment: str, sub: SubCommand, names: Callable[[], Sequence[str]]
) -> Completions | None:
    if kind == SUBCOMMAND:
        return _filtered(fragment, list(SUBCOMMANDS))
    if kind == VERB:
        return _filtered(fragment, list(sub.words))
    if kind == ACTION:
        return _filtered(fragment, [a.split(":", 1)[1] for a in ACTIONS])
    if kind == INSTANCE:
        return _filtered(fragment, list(names()))
    if kind == TARGETS:
        # The part after the last comma is the one being typed.
        head, comma, _ = fragment.rpartition(",")
        given = set(head.split(","))
        choices = [n for n in [*names(), "all"] if n not in given]
        return _filtered(fragment, [head + comma + n for n in choices])
    if kind in (REMOTE, UPLOAD):
        if ":" in fragment:
            return None  # a remote path: nothing to offer from here
        hosts = _filtered(fragment, [f"{n}:" for n in names()])
        # Upload arguments are local files until the last one.
        return Completions(hosts.fragment, hosts.matches, exclusive=kind == REMOTE)
    if kind == LOCAL:
        return None
    return Completions(fragment, [])


def _filtered(fragment: str, candidates: list[str]) -> Completions:
    return Completions(fragment, [c for c in candidates if c.startswith(fragment)])


def register_completer(ipython: Any, names: Callable[[], Sequence[str]]) -> None:
    """Make Tab complete ``%workbench`` lines in *ipython*.

    Uses IPython's matcher API (``Completer.custom_matchers``, IPython 8.6
    and later), which sees the whole cell and can keep Python names out of
    the list; older IPythons get the ``complete_command`` hook.
    """

    def safe_names() -> list[str]:
        # A completer must never raise: a server that is down means no names.
        try:
            return list(names())
        except Exception as exc:  # any failure means nothing to offer
            log.debug("No instance names for completion: %s", exc)
            return []

    try:
        from IPython.core.completer import SimpleCompletion, context_matcher
    except ImportError:
        _register_hook(ipython, safe_names)
        return

    completer = ipython.Completer
    # Where local files fit too (upload), IPython's file matcher stays on.
    files = {getattr(completer.file_matcher, "matcher_identifier", "")}

    @context_matcher()  # type: ignore[untyped-decorator]
    def workbench_matcher(context: Any) -> dict[str, Any]:
        line = context.full_text.split("\n")[context.cursor_line]
        found = complete(line[: context.cursor_position], safe_names)
        if found is None or not found.matches:
            return {"completions": [], "suppress": False}
        return {
            "completions": [
                SimpleCompletion(m, type="workbench") for m in found.matches
            ],
            "matched_fragment": found.fragment,
            "suppress": True,
            "do_not_suppress": set() if found.exclusive else files,
            "ordered": True,
        }

    completer.custom_matchers.append(workbench_matcher)


def _register_hook(ipython: Any, names: Callable[[], list[str]]) -> None:
    def hook(_shell: Any, event: Any) -> list[str]:
        found = complete(event.text_until_cursor, names)
        return found.matches if found is not None else []

    for key in ("%workbench", "%%workbench"):
        ipython.set_hook("complete_command", hook, str_key=key)
