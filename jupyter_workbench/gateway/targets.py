"""Pick the instances a batch run goes to, from a short selection string.

A selection is a comma-separated list of items; each item adds instances:

==================  =====================================================
``web-1``           the instance named (or with the id) ``web-1``
``web-*``           a shell-style glob on names (``*``, ``?``, ``[ab]``)
``web[01-20]``      a numeric range: ``web01`` … ``web20``, zero padding
                    kept; every name in the range must exist
``env=prod``        instances whose tag ``env`` is ``prod`` (the value
                    may be a glob: ``role=web*``)
``@db``             a group: instances tagged ``group=db`` (the tag may
                    list several groups, ``group = "db,backup"``), and the
                    names listed under ``db`` in the gateway's ``groups``
                    setting
``all``             every SSH instance
``!web-3``          removes what the rest of the item would select
==================  =====================================================

Only SSH instances take part: an RDP instance named explicitly is an
error, one matched by a pattern is left out. An item that selects nothing
is an error naming the item, so a typo never silently shrinks a fleet.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence

from .errors import WorkbenchError
from .inventory import Instance, Inventory

GROUP_TAG = "group"
_RANGE_RE = re.compile(r"\[(\d+)-(\d+)\]")
_GLOB_CHARS = set("*?[")
#: A range that expands to more names than this is refused, so that a typo
#: such as ``web[1-1000000]`` does not allocate a million names.
MAX_RANGE = 10000


class TargetError(WorkbenchError):
    """A selection names instances, tags or groups that do not exist."""

    code = "bad_targets"


def select(
    inventory: Inventory,
    selection: str | Sequence[str],
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> list[Instance]:
    """Return the SSH instances a selection names, in inventory order.

    Parameters
    ----------
    inventory
        The instances to choose from.
    selection
        ``"web-*,env=prod,!web-3"``, or a list of such items.
    groups
        Named groups of instance names, besides the ``group`` tag.

    Raises
    ------
    TargetError
        When the selection is empty, when an item matches nothing (every
        such item is named), or when a range is malformed or too large.
    """
    items = _items(selection)
    if not items:
        raise TargetError(
            "The selection is empty: name instances, a glob such as 'web-*', "
            "a tag such as 'env=prod', a group '@name', or 'all'"
        )

    candidates = list(inventory)
    chosen: dict[str, Instance] = {}
    unmatched: list[str] = []
    for item in items:
        exclude = item.startswith("!")
        matched = _match(item[1:] if exclude else item, candidates, groups or {})
        if not matched:
            unmatched.append(item)
        for instance in matched:
            if exclude:
                chosen.pop(instance.name, None)
            else:
                chosen[instance.name] = instance

    if unmatched:
        raise TargetError(
            f"Nothing matches {', '.join(repr(u) for u in unmatched)}: check the "
            "names with %workbench hosts (or GET instances); tags are key=value, "
            "groups are @name",
            unmatched=unmatched,
        )
    if not chosen:
        raise TargetError(
            f"The selection {','.join(items)!r} leaves no instance after exclusions",
            unmatched=[],
        )
    return [i for i in candidates if i.name in chosen]


def _items(selection: str | Sequence[str]) -> list[str]:
    parts: Iterable[str] = (
        selection.split(",") if isinstance(selection, str) else selection
    )
    return [p.strip() for p in parts if p and p.strip()]


def _match(
    item: str, candidates: list[Instance], groups: Mapping[str, Sequence[str]]
) -> list[Instance]:
    ssh = [i for i in candidates if i.protocol == "ssh"]
    if item == "all":
        return ssh
    if item.startswith("@"):
        return _group(item[1:], ssh, groups)
    if "=" in item:
        key, _, pattern = item.partition("=")
        return [
            i
            for i in ssh
            if key.strip() in i.tags
            and fnmatch.fnmatchcase(i.tags[key.strip()], pattern.strip())
        ]
    if _RANGE_RE.search(item):
        return _range(item, candidates)
    if _GLOB_CHARS & set(item):
        return [i for i in ssh if fnmatch.fnmatchcase(i.name, item)]
    return [_exact(item, candidates)] if _exists(item, candidates) else []


def _group(
    name: str, ssh: list[Instance], groups: Mapping[str, Sequence[str]]
) -> list[Instance]:
    listed = set(groups.get(name, ()))
    return [
        i
        for i in ssh
        if i.name in listed
        or name in {g.strip() for g in i.tags.get(GROUP_TAG, "").split(",")}
    ]


def _range(item: str, candidates: list[Instance]) -> list[Instance]:
    names = expand_range(item)
    missing = [n for n in names if not _exists(n, candidates)]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise TargetError(
            f"The range {item!r} names {len(missing)} instance(s) that do not "
            f"exist: {shown}",
            unmatched=missing,
        )
    return [_exact(n, candidates) for n in names]


def expand_range(item: str) -> list[str]:
    """Expand every ``[a-b]`` in *item*: ``web[08-10]`` → web08, web09, web10.

    Raises
    ------
    TargetError
        When a range runs backwards or the expansion is too large.
    """
    match = _RANGE_RE.search(item)
    if match is None:
        return [item]
    low, high = int(match.group(1)), int(match.group(2))
    if high < low:
        raise TargetError(f"The range {match.group(0)!r} in {item!r} runs backwards")
    if high - low >= MAX_RANGE:
        raise TargetError(
            f"The range {match.group(0)!r} names more than {MAX_RANGE} instances"
        )
    width = len(match.group(1)) if match.group(1).startswith("0") else 0
    head, tail = item[: match.start()], item[match.end() :]
    names: list[str] = []
    for number in range(low, high + 1):
        names.extend(expand_range(f"{head}{number:0{width}d}{tail}"))
        if len(names) > MAX_RANGE:
            raise TargetError(f"{item!r} names more than {MAX_RANGE} instances")
    return names


def _exists(name: str, candidates: list[Instance]) -> bool:
    return any(name in (i.name, i.id) for i in candidates)


def _exact(name: str, candidates: list[Instance]) -> Instance:
    instance = next(i for i in candidates if name in (i.name, i.id))
    if instance.protocol != "ssh":
        raise TargetError(
            f"{name} is an {instance.protocol.upper()} instance: commands run over "
            "SSH only",
            unmatched=[name],
        )
    return instance


__all__ = ["TargetError", "expand_range", "select"]
