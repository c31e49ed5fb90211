"""Access policies in the cloud's RAM form, and their evaluation.

A policy document::

    {"Version": "1",
     "Statement": [{"Effect": "Allow",
                    "Action": "ecs-workbench:LoginInstance",
                    "Resource": "acs:ecs-workbench:*:*:workbench/i-001"}]}

``Action`` and ``Resource`` are a string or a list of strings. A resource
is ``acs:ecs-workbench:{regionId}:{accountId}:workbench/{instanceId}`` (or
``*``); each of the three values is matched on its own, with ``*`` (any
run of characters) and ``?`` (one character) as wildcards, so a wildcard
never spills from one segment into the next. Actions match without regard
to case, as the cloud's do.

Evaluation, once any policy is configured: an explicit Deny wins, then an
Allow, else the request is denied. With no policy configured at all,
everything is allowed (the server logs that once).

Policies attach to user names and group names (``"*"`` stands for every
user). An invalid document is an error naming the statement and field: it
never falls back to allowing.

A statement may carry a ``Condition`` with the ``Bool`` operator on the
one condition key the gateway knows, ``ecs-workbench:SessionRecorded``:
whether the terminal being opened or attached is recorded (remote desktops
are never recorded by the gateway; other requests do not have the key). As
in RAM, a statement whose condition key is missing from the request does
not apply, so ``Deny`` ``LoginInstance`` when ``SessionRecorded`` is
``false`` lets users log in and makes the gateway record their terminals.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import PolicyDenied, PolicyInvalid
from .inventory import Instance

log = logging.getLogger(__name__)

SERVICE = "ecs-workbench"
LOGIN = f"{SERVICE}:LoginInstance"
UPLOAD_FILE = f"{SERVICE}:UploadFile"
DOWNLOAD_FILE = f"{SERVICE}:DownloadFile"
RUN_COMMAND = f"{SERVICE}:RunCommand"
MANAGE_SYSTEM = f"{SERVICE}:ManageSystem"
CONNECT_RDP = f"{SERVICE}:ConnectRDP"
ALL = f"{SERVICE}:*"

#: Every action the gateway checks, with what it guards (docs/api.md lists them).
ACTIONS: dict[str, str] = {
    LOGIN: "log in, trust a host key, diagnose, open and attach terminals",
    UPLOAD_FILE: "write files on the instance (upload, save, rename, delete)",
    DOWNLOAD_FILE: "read files on the instance (list, open, download)",
    RUN_COMMAND: "run commands on the instance (batch runs)",
    MANAGE_SYSTEM: "change users, services and settings on the instance",
    CONNECT_RDP: "open a remote desktop to the instance",
}

#: The condition key telling whether a terminal session is recorded.
SESSION_RECORDED = f"{SERVICE}:SessionRecorded"
#: Condition keys the gateway fills in, with what they mean.
CONDITION_KEYS: dict[str, str] = {
    SESSION_RECORDED: "whether the terminal session is recorded (true/false)",
}
#: Condition operators the gateway evaluates.
CONDITION_OPERATORS = ("Bool",)

VERSIONS = ("1",)
#: What the inventory gives for a region or account it does not know.
UNKNOWN = "*"
EFFECTS = ("Allow", "Deny")
_STATEMENT_KEYS = {"Effect", "Action", "Resource", "Sid", "Condition"}
_RESOURCE_PREFIX = f"acs:{SERVICE}:"


@dataclass(frozen=True)
class ResourcePattern:
    """One ``Resource`` entry: patterns for region, account and instance id."""

    text: str
    region: str = "*"
    account: str = "*"
    instance: str = "*"

    @classmethod
    def parse(cls, text: str) -> ResourcePattern:
        """Parse ``*`` or ``acs:ecs-workbench:{region}:{account}:workbench/{id}``.

        Raises
        ------
        ValueError
            When the text is not in that form.
        """
        if text == "*":
            return cls(text)
        if not text.startswith(_RESOURCE_PREFIX):
            raise ValueError(
                f"{text!r} is not a workbench resource: write "
                f"'{_RESOURCE_PREFIX}{{regionId}}:{{accountId}}:workbench/{{instanceId}}' "
                "(each part may be '*')"
            )
        parts = text[len(_RESOURCE_PREFIX) :].split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(
                f"{text!r} needs exactly a region, an account and "
                "'workbench/{instanceId}' after 'acs:ecs-workbench:'"
            )
        region, account, last = parts
        if last == "*":
            instance = "*"
        elif last.startswith("workbench/") and len(last) > len("workbench/"):
            instance = last[len("workbench/") :]
        else:
            raise ValueError(
                f"{text!r} must end in 'workbench/{{instanceId}}' or '*', not {last!r}"
            )
        return cls(text, region, account, instance)

    def matches(
        self, region: str, account: str, instance_id: str, *, unknown: bool = False
    ) -> bool:
        """Return whether the pattern covers the instance's three values.

        An inventory without a region or account gives ``*`` (unknown); with
        *unknown* set (for Deny statements) an unknown value matches any
        pattern, so that a Deny by region cannot be slipped past by leaving
        the region out, while an Allow by region never opens such instances.
        """
        return all(
            (unknown and value == UNKNOWN) or wildcard_match(pattern, value)
            for pattern, value in (
                (self.region, region),
                (self.account, account),
                (self.instance, instance_id),
            )
        )


@dataclass(frozen=True)
class Condition:
    """One checked condition: ``Bool`` of a key against one or more values."""

    operator: str
    key: str
    values: tuple[bool, ...]

    def holds(self, context: Mapping[str, Any]) -> bool:
        """Return whether the request's *context* satisfies the condition.

        A key the request does not have never satisfies it, as in RAM.
        """
        if self.key not in context:
            return False
        return bool(context[self.key]) in self.values


@dataclass(frozen=True)
class Statement:
    """One checked statement of a policy document."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[ResourcePattern, ...]
    sid: str | None = None
    conditions: tuple[Condition, ...] = ()

    def matches(
        self,
        action: str,
        region: str,
        account: str,
        instance: str,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Return whether the statement covers the action on the instance.

        *context* holds the request's condition keys; every condition of the
        statement must hold for it to apply.
        """
        return (
            any(
                wildcard_match(pattern, action, ignore_case=True)
                for pattern in self.actions
            )
            and any(
                r.matches(region, account, instance, unknown=self.effect == "Deny")
                for r in self.resources
            )
            and all(c.holds(context or {}) for c in self.conditions)
        )


@dataclass(frozen=True)
class Policy:
    """A named, checked policy document and who it is attached to."""

    name: str
    statements: tuple[Statement, ...]
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def applies_to(self, user: str, groups: Iterable[str]) -> bool:
        """Return whether the policy is attached to the user or a group of theirs."""
        return (
            "*" in self.users
            or user in self.users
            or not self.groups.isdisjoint(groups)
        )


@dataclass(frozen=True)
class Decision:
    """The answer of an evaluation, with the statement that decided it."""

    allowed: bool
    action: str
    resource: str
    policy: str | None = None
    statement: int | None = None  # 1-based, as people count
    reason: str = ""

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        return f"{verdict}, because {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as JSON-ready data."""
        return {
            "allowed": self.allowed,
            "action": self.action,
            "resource": self.resource,
            "policy": self.policy,
            "statement": self.statement,
            "explanation": str(self),
        }


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Match *value* against *pattern*, where ``*`` is any run and ``?`` one character."""
    return _compile(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # Only * and ? are special: fnmatch's [...] classes are not part of RAM.
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def resource_of(instance: Instance) -> str:
    """Return the RAM resource name of *instance*."""
    return f"{_RESOURCE_PREFIX}{instance.region}:{instance.account}:workbench/{instance.id}"


# -- parsing ----------------------------------------------------------------


def parse_document(document: Any, *, name: str) -> tuple[Statement, ...]:
    """Check a policy document and return its statements.

    Raises
    ------
    PolicyInvalid
        Naming the policy, the statement (1-based) and the field that is wrong.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise _invalid(
                name, None, None, f"the document is not JSON ({exc})"
            ) from None
    if not isinstance(document, Mapping):
        raise _invalid(name, None, None, "the document must be a JSON object")
    unknown = set(document) - {"Version", "Statement"}
    if unknown:
        raise _invalid(name, None, sorted(unknown)[0], "unknown field")
    if document.get("Version") not in VERSIONS:
        raise _invalid(name, None, "Version", 'must be "1"')
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _invalid(
            name, None, "Statement", "must be a non-empty list of statements"
        )
    return tuple(_statement(name, index, entry) for index, entry in enumerate(raw, 1))


def _statement(name: str, index: int, entry: Any) -> Statement:
    if not isinstance(entry, Mapping):
        raise _invalid(name, index, None, "a statement must be a JSON object")
    unknown = set(entry) - _STATEMENT_KEYS
    if unknown:
        # NotAction, NotResource and Principal are not evaluated here (nor
        # conditions other than `CONDITION_KEYS`): ignoring them would grant
        # more than the author meant.
        raise _invalid(name, index, sorted(unknown)[0], "unsupported field")
    effect = entry.get("Effect")
    if effect not in EFFECTS:
        raise _invalid(name, index, "Effect", 'must be "Allow" or "Deny"')
    actions = _strings(name, index, "Action", entry.get("Action"))
    for action in actions:
        _check_action(name, index, action)
    resources = []
    for text in _strings(name, index, "Resource", entry.get("Resource")):
        try:
            resources.append(ResourcePattern.parse(text))
        except ValueError as exc:
            raise _invalid(name, index, "Resource", str(exc)) from None
    sid = entry.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise _invalid(name, index, "Sid", "must be a string")
    conditions = (
        _conditions(name, index, entry["Condition"]) if "Condition" in entry else ()
    )
    return Statement(effect, actions, tuple(resources), sid, conditions)


def _conditions(name: str, index: int, block: Any) -> tuple[Condition, ...]:
    """Check ``{"Bool": {"ecs-workbench:SessionRecorded": "true"}}``."""
    if not isinstance(block, Mapping) or not block:
        raise _invalid(
            name,
            index,
            "Condition",
            "must be an object of operators, e.g. "
            f'{{"Bool": {{"{SESSION_RECORDED}": "true"}}}}',
        )
    found = []
    for operator, keys in block.items():
        if operator not in CONDITION_OPERATORS:
            raise _invalid(
                name,
                index,
                "Condition",
                f"unsupported operator {operator!r}; supported: "
                f"{', '.join(CONDITION_OPERATORS)}",
            )
        if not isinstance(keys, Mapping) or not keys:
            raise _invalid(
                name,
                index,
                "Condition",
                f"{operator} must map condition keys to values",
            )
        for key, value in keys.items():
            known = {k.lower(): k for k in CONDITION_KEYS}
            if not isinstance(key, str) or key.lower() not in known:
                raise _invalid(
                    name,
                    index,
                    "Condition",
                    f"unknown condition key {key!r}; known: "
                    f"{', '.join(sorted(CONDITION_KEYS))}",
                )
            found.append(
                Condition(operator, known[key.lower()], _bools(name, index, value))
            )
    return tuple(found)


def _bools(name: str, index: int, value: Any) -> tuple[bool, ...]:
    items = value if isinstance(value, list) else [value]
    parsed = []
    for item in items:
        text = str(item).lower() if isinstance(item, (str, bool)) else None
        if text not in ("true", "false"):
            raise _invalid(
                name, index, "Condition", f'Bool takes "true" or "false", not {item!r}'
            )
        parsed.append(text == "true")
    if not parsed:
        raise _invalid(name, index, "Condition", "Bool needs a value")
    return tuple(parsed)


def _strings(name: str, index: int, key: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(v, str) and v for v in items)
    ):
        raise _invalid(
            name, index, key, "must be a non-empty string or list of strings"
        )
    return tuple(items)


def _check_action(name: str, index: int, action: str) -> None:
    if action == "*":
        return
    service, colon, verb = action.partition(":")
    if not colon or service.lower() != SERVICE or not verb:
        raise _invalid(
            name, index, "Action", f"{action!r} is not an '{SERVICE}:...' action"
        )
    if "*" in verb or "?" in verb:
        return
    known = {a.lower() for a in ACTIONS}
    if action.lower() not in known:
        raise _invalid(
            name,
            index,
            "Action",
            f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}",
        )


def _invalid(
    name: str, index: int | None, key: str | None, problem: str
) -> PolicyInvalid:
    where = f"policy {name!r}"
    if index is not None:
        where += f", statement {index}"
    if key is not None:
        where += f", field {key!r}"
    return PolicyInvalid(
        f"Invalid {where}: {problem}", policy=name, statement=index, field=key
    )


def parse_attachment(entry: Any, *, where: str) -> Policy:
    """Check ``{"name", "document", "users", "groups"}`` and return the `Policy`.

    Raises
    ------
    PolicyInvalid
        When a field is missing or malformed; *where* names the entry.
    """
    if not isinstance(entry, Mapping):
        raise PolicyInvalid(
            f"{where}: a policy must be an object with 'name' and 'document'"
        )
    unknown = set(entry) - {"name", "document", "users", "groups"}
    if unknown:
        raise PolicyInvalid(f"{where}: unknown field {sorted(unknown)[0]!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyInvalid(f"{where}: 'name' must be a non-empty string")
    attached = {}
    for key in ("users", "groups"):
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyInvalid(f"{where} ({name}): '{key}' must be a list of names")
        attached[key] = frozenset(value)
    statements = parse_document(entry.get("document"), name=name)
    return Policy(name, statements, attached["users"], attached["groups"])


def parse_policies(entries: Sequence[Any], *, where: str) -> list[Policy]:
    """Check a list of attachments; names must be unique."""
    policies = [
        parse_attachment(entry, where=f"{where}[{index}]")
        for index, entry in enumerate(entries)
    ]
    names = [p.name for p in policies]
    for name in names:
        if names.count(name) > 1:
            raise PolicyInvalid(f"{where}: two policies are named {name!r}")
    return policies


# -- evaluation ----------------------------------------------------------------


def evaluate(
    policies: Sequence[Policy],
    user: str,
    groups: Iterable[str],
    action: str,
    instance: Instance,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide whether *user* (in *groups*) may do *action* on *instance*.

    *context* holds the request's condition keys (`CONDITION_KEYS`).
    """
    resource = resource_of(instance)
    groups = frozenset(groups)
    allow: tuple[str, int] | None = None
    for policy in policies:
        if not policy.applies_to(user, groups):
            continue
        for number, statement in enumerate(policy.statements, 1):
            if not statement.matches(
                action, instance.region, instance.account, instance.id, context
            ):
                continue
            if statement.effect == "Deny":
                return Decision(
                    False,
                    action,
                    resource,
                    policy.name,
                    number,
                    f"statement {number} of policy {policy.name} denies it",
                )
            allow = allow or (policy.name, number)
    if allow is None:
        return Decision(
            False, action, resource, reason=f"no statement allows it for {user}"
        )
    name, number = allow
    return Decision(
        True,
        action,
        resource,
        name,
        number,
        f"statement {number} of policy {name} allows it",
    )


@dataclass
class PolicyStore:
    """Policies from config and from a file that is re-read when it changes.

    Parameters
    ----------
    policies
        Attachments from config (already checked with `parse_policies`).
    path
        A JSON policy file: ``{"policies": [...], "groups": {"ops": ["alice"]}}``.
        A file that turns invalid or disappears denies everything until it is
        fixed: a broken tightening must not leave the old, looser rules in force.
    groups
        Group memberships from config: group name to user names.
    """

    policies: list[Policy] = field(default_factory=list)
    path: Path | None = None
    groups: dict[str, set[str]] = field(default_factory=dict)
    _file: list[Policy] = field(default_factory=list, init=False)
    _file_groups: dict[str, set[str]] = field(default_factory=dict, init=False)
    _stamp: tuple[int, int, int] | None = field(default=None, init=False)
    _broken: str | None = field(default=None, init=False)
    _said_open: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.path is not None:
            self._reload(strict=True)

    @property
    def configured(self) -> bool:
        """Whether any policy (or a policy file) is configured."""
        return bool(self.policies) or self.path is not None

    def groups_of(self, user: str) -> set[str]:
        """Return the groups the config and the policy file put *user* in."""
        self._refresh()
        found = set()
        for source in (self.groups, self._file_groups):
            found |= {g for g, members in source.items() if user in members}
        return found

    def decide(
        self,
        user: str,
        groups: Iterable[str],
        action: str,
        instance: Instance,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Evaluate the current policies for *user* and the identity's *groups*."""
        if not self.configured:
            if not self._said_open:
                self._said_open = True
                log.info(
                    "No access policy is configured: every user may do everything on "
                    "every instance (set WorkbenchApp.policies or policy_file to restrict)"
                )
            return Decision(
                True, action, resource_of(instance), reason="no policy is configured"
            )
        self._refresh()
        if self._broken is not None:
            return Decision(
                False,
                action,
                resource_of(instance),
                # What is wrong (and where the file is) goes to the server
                # log for the administrator, not to every denied user.
                reason="the policy file is invalid, so everything is denied until an "
                "administrator fixes it (the server log says what is wrong)",
            )
        every = [*self.policies, *self._file]
        groups = {*groups, *self.groups_of(user)}
        return evaluate(every, user, groups, action, instance, context)

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None
        if stamp != self._stamp or stamp is None:
            self._reload(strict=False)

    def _reload(self, *, strict: bool) -> None:
        assert self.path is not None
        try:
            stat = os.stat(self.path)
            text = self.path.read_text(encoding="utf-8")
            policies, groups = parse_policy_file(text, where=str(self.path))
        except (OSError, PolicyInvalid, UnicodeDecodeError) as exc:
            message = exc.message if isinstance(exc, PolicyInvalid) else str(exc)
            if strict:
                raise PolicyInvalid(
                    f"The policy file cannot be used: {message}", path=str(self.path)
                ) from None
            if self._broken != message:
                log.error("Policy file unusable, denying everything: %s", message)
            self._broken, self._stamp = message, None
            return
        if self._stamp is not None or self._broken is not None:
            log.info("Reloaded %d policies from %s", len(policies), self.path)
        self._file, self._file_groups = policies, groups
        self._stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        self._broken = None


def parse_policy_file(
    text: str, *, where: str
) -> tuple[list[Policy], dict[str, set[str]]]:
    """Parse a policy file's text: its policies and its group memberships.

    Raises
    ------
    PolicyInvalid
        When the JSON, a policy or the groups are malformed.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PolicyInvalid(f"{where} is not valid JSON ({exc})") from None
    if not isinstance(data, Mapping) or set(data) - {"policies", "groups"}:
        raise PolicyInvalid(f"{where} must be an object with 'policies' and 'groups'")
    entries = data.get("policies", [])
    if not isinstance(entries, list):
        raise PolicyInvalid(f"{where}: 'policies' must be a list")
    return parse_policies(entries, where=f"{where} policies"), parse_groups(
        data.get("groups", {}), where=f"{where} groups"
    )


def parse_groups(value: Any, *, where: str) -> dict[str, set[str]]:
    """Check ``{"group": ["user", ...]}``.

    Raises
    ------
    PolicyInvalid
        When it is not a mapping of names to lists of names.
    """
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str)
        and isinstance(v, list)
        and all(isinstance(u, str) for u in v)
        for k, v in value.items()
    ):
        raise PolicyInvalid(f"{where} must map group names to lists of user names")
    return {k: set(v) for k, v in value.items()}


def require(decision: Decision, user: str, instance: Instance) -> None:
    """Raise `PolicyDenied` when *decision* denies.

    Raises
    ------
    PolicyDenied
        Naming the statement that denied, or saying that none allowed.
    """
    if decision.allowed:
        return
    raise PolicyDenied(
        f"{user} may not do {decision.action} on {instance.name}: {decision.reason}. "
        "Ask an administrator to change the access policies if you need this",
        action=decision.action,
        instance=instance.name,
        resource=decision.resource,
        policy=decision.policy,
        statement=decision.statement,
    )
