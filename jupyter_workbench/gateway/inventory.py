"""The instances the workbench knows: loaded from files, config and ssh_config.

An inventory file is TOML (or JSON) with one ``[[instances]]`` table per
instance; see ``docs/inventory.md`` for the format. Errors name the file,
the line of the offending table and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from .errors import InstanceNotFound, InventoryError

PROTOCOLS = ("ssh", "rdp")
MAX_JUMPS = 8
DEFAULT_PORTS = {"ssh": 22, "rdp": 3389}
_SSH_OPTION_RE = re.compile(r"(\S+?)\s*(?:=\s*|\s+)(.*)")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_FIELDS = {
    "id",
    "name",
    "host",
    "port",
    "user",
    "protocol",
    "region",
    "account",
    "tags",
    "jump",
}


@dataclass(frozen=True)
class Instance:
    """One machine the workbench can connect to."""

    name: str
    host: str
    id: str = ""
    port: int = 22
    user: str | None = None
    protocol: str = "ssh"
    region: str = "*"
    account: str = "*"
    tags: Mapping[str, str] = field(default_factory=dict)
    jump: str | None = None
    source: str = "inventory"

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.name)

    def to_dict(self) -> dict[str, Any]:
        """Return the instance as JSON-ready data."""
        data = asdict(self)
        data["tags"] = dict(self.tags)
        data["demo"] = self.source == "demo"
        return data


def instance_from_mapping(
    entry: Mapping[str, Any], *, where: str, source: str = "inventory"
) -> Instance:
    """Check one inventory entry and turn it into an `Instance`.

    Parameters
    ----------
    entry
        The fields as read from a file or from config.
    where
        Names the place of the entry in errors, e.g. ``fleet.toml, line 7``.
    source
        Where the instance came from, shown to users.

    Raises
    ------
    InventoryError
        When a field is missing, unknown, or of the wrong type.
    """

    def bad(field_name: str, problem: str) -> InventoryError:
        return InventoryError(
            f"{where}: field '{field_name}' {problem}", where=where, field=field_name
        )

    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise bad(
            unknown[0], f"is not a known field (known: {', '.join(sorted(_FIELDS))})"
        )

    for required in ("name", "host"):
        value = entry.get(required)
        if not isinstance(value, str) or not value.strip():
            raise bad(required, "is required and must be a non-empty string")

    name = entry["name"].strip()
    if not _NAME_RE.match(name):
        raise bad("name", "may hold only letters, digits and . _ @ - (at most 128)")

    protocol = entry.get("protocol", "ssh")
    if protocol not in PROTOCOLS:
        raise bad(
            "protocol", f"must be one of {', '.join(PROTOCOLS)}, not {protocol!r}"
        )

    port = entry.get("port", DEFAULT_PORTS[protocol])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise bad("port", f"must be a whole number from 1 to 65535, not {port!r}")

    for optional in ("id", "user", "region", "account", "jump"):
        value = entry.get(optional)
        if value is not None and not isinstance(value, str):
            raise bad(optional, f"must be a string, not {type(value).__name__}")

    tags = entry.get("tags", {})
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise bad("tags", "must be a table of string keys to string values")

    return Instance(
        id=entry.get("id") or name,
        name=name,
        host=entry["host"].strip(),
        port=port,
        user=entry.get("user"),
        protocol=protocol,
        region=entry.get("region") or "*",
        account=entry.get("account") or "*",
        tags=dict(tags),
        jump=entry.get("jump"),
        source=source,
    )


def load_file(path: str | Path) -> list[Instance]:
    """Read an inventory file (``.toml`` or ``.json``).

    Raises
    ------
    InventoryError
        When the file cannot be read or parsed, or an entry is malformed.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(
            f"{path}: cannot read the inventory: {exc}", file=str(path)
        ) from exc

    data = _parse(path, text)
    entries = data.get("instances", [])
    if not isinstance(entries, list):
        raise InventoryError(
            f"{path}: 'instances' must be a list of tables ([[instances]])",
            file=str(path),
        )

    lines = _table_lines(text) if path.suffix != ".json" else []
    instances: list[Instance] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(entries):
        line = lines[index] if index < len(lines) else None
        where = f"{path}, line {line}" if line else f"{path}, instance {index + 1}"
        if not isinstance(entry, Mapping):
            raise InventoryError(
                f"{where}: each instance must be a table", file=str(path)
            )
        instance = instance_from_mapping(entry, where=where)
        if instance.name in seen:
            raise InventoryError(
                f"{where}: field 'name' repeats '{instance.name}', already used at "
                f"{seen[instance.name]}: names must be unique",
                file=str(path),
                field="name",
            )
        seen[instance.name] = where.removeprefix(f"{path}, ")
        instances.append(instance)
    return instances


def load_ssh_config(path: str | Path = "~/.ssh/config") -> list[Instance]:
    """Turn the concrete ``Host`` entries of an OpenSSH client config into instances.

    Patterns (``*``, ``?``, ``!``) and ``Match`` blocks describe options, not
    machines, so they are skipped. Options from a later ``Host *`` block are
    not merged in: the instance carries only what its own block says.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: cannot read: {exc}", file=str(path)) from exc

    instances: list[Instance] = []
    for names, options, line in _ssh_config_blocks(text):
        for name in names:
            entry: dict[str, Any] = {
                "name": name,
                "host": options.get("hostname", name),
            }
            if "port" in options and options["port"].isdigit():
                entry["port"] = int(options["port"])
            if "user" in options:
                entry["user"] = options["user"]
            if "proxyjump" in options and options["proxyjump"].lower() != "none":
                entry["jump"] = _jump_name(options["proxyjump"])
            try:
                instances.append(
                    instance_from_mapping(
                        entry, where=f"{path}, line {line}", source="ssh_config"
                    )
                )
            except InventoryError:
                continue  # a Host alias we cannot use is not worth refusing the file
    return instances


class Inventory:
    """The instances known to one gateway, looked up by name or id."""

    def __init__(self, instances: Iterable[Instance] = ()) -> None:
        self._by_name: dict[str, Instance] = {}
        for instance in instances:
            self.add(instance)

    def add(self, instance: Instance, *, replace: bool = False) -> None:
        """Add an instance; the first source to name it wins unless *replace*."""
        if instance.name in self._by_name and not replace:
            return
        self._by_name[instance.name] = instance

    def get(self, name: str) -> Instance:
        """Return the instance called *name* (or with that id).

        Raises
        ------
        InstanceNotFound
            When no instance has that name or id.
        """
        if name in self._by_name:
            return self._by_name[name]
        for instance in self._by_name.values():
            if instance.id == name:
                return instance
        known = ", ".join(sorted(self._by_name)) or "none"
        raise InstanceNotFound(
            f"No instance named '{name}' (known: {known})", instance=name
        )

    def route(self, name: str) -> list[Instance]:
        """Return the instance and its jump hosts, target first.

        Raises
        ------
        InstanceNotFound
            When the instance or one of its jump hosts is not in the inventory.
        InventoryError
            When the jump hosts form a loop or the chain is too long.
        """
        route = [self.get(name)]
        while route[-1].jump:
            hop = self.get(route[-1].jump)
            if hop in route or len(route) >= MAX_JUMPS + 1:
                chain = " → ".join(i.name for i in [*route, hop])
                raise InventoryError(
                    f"The jump hosts of {route[0].name} form a loop or a chain longer "
                    f"than {MAX_JUMPS} ({chain}): fix their 'jump' fields",
                    instance=route[0].name,
                    field="jump",
                )
            route.append(hop)
        return route

    def __iter__(self) -> Any:
        return iter(
            sorted(self._by_name.values(), key=lambda i: (i.source != "demo", i.name))
        )

    def __len__(self) -> int:
        return len(self._by_name)


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: {exc}", file=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise InventoryError(
            f"{path}, line {exc.lineno}: {exc.msg}", file=str(path), line=exc.lineno
        ) from exc
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: the top level must be a table", file=str(path))
    return data


def _table_lines(text: str) -> list[int]:
    """Return the line numbers of each ``[[instances]]`` header, in order."""
    pattern = re.compile(r"^\s*\[\[\s*instances\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)]


def _ssh_config_blocks(text: str) -> Iterable[tuple[list[str], dict[str, str], int]]:
    names: list[str] = []
    options: dict[str, str] = {}
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SSH_OPTION_RE.match(line)
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2).strip().strip('"')
        if key in ("host", "match"):
            if names:
                yield names, options, start
            names = (
                []
                if key == "match"
                else [n for n in value.split() if not any(c in n for c in "*?!")]
            )
            options, start = {}, number
        elif names and key not in options:
            options[key] = value
    if names:
        yield names, options, start


def _jump_name(proxy_jump: str) -> str:
    """Return the host of the first hop of a ProxyJump value (``[user@]host[:port]``)."""
    hop = proxy_jump.split(",")[0].split("@")[-1]
    if hop.startswith("["):
        return hop[1:].split("]")[0]
    return hop.split(":")[0]
