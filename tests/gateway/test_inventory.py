"""Unit tests of the inventory: files, their errors, ssh_config and lookup."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from jupyter_workbench.gateway.errors import InstanceNotFound, InventoryError
from jupyter_workbench.gateway.inventory import (
    Instance,
    Inventory,
    instance_from_mapping,
    load_file,
    load_ssh_config,
)

FULL_TOML = """\
# The fleet of the data team.
[[instances]]
id = "i-0abc"
name = "web-1"
host = "10.0.0.5"
port = 2222
user = "admin"
protocol = "ssh"
region = "eu-west-1"
account = "1234"
jump = "bastion"

[instances.tags]
env = "prod"
team = "data"

[[instances]]
name = "bastion"
host = "192.0.2.10"

[[instances]]
name = "desk"
host = "192.0.2.11"
protocol = "rdp"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def toml_with_bad_third_table(tmp_path: Path, bad_line: str) -> Path:
    """Write three instances; the third, at line 9, holds *bad_line*."""
    return write(
        tmp_path,
        "fleet.toml",
        "[[instances]]\n"
        'name = "a"\n'
        'host = "192.0.2.1"\n'
        "\n"
        "[[instances]]\n"
        'name = "b"\n'
        'host = "192.0.2.2"\n'
        "\n"
        "[[instances]]\n"
        'name = "c"\n'
        f"{bad_line}\n",
    )


def test_toml_file_loads_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, "fleet.toml", FULL_TOML)

    web, bastion, desk = load_file(path)

    assert web == Instance(
        id="i-0abc",
        name="web-1",
        host="10.0.0.5",
        port=2222,
        user="admin",
        protocol="ssh",
        region="eu-west-1",
        account="1234",
        tags={"env": "prod", "team": "data"},
        jump="bastion",
        source="inventory",
    )
    assert (bastion.id, bastion.port, bastion.user, bastion.jump) == (
        "bastion",
        22,
        None,
        None,
    )
    assert (bastion.region, bastion.account, dict(bastion.tags)) == ("*", "*", {})
    assert (desk.protocol, desk.port) == ("rdp", 3389)


def test_json_file_loads_every_field(tmp_path: Path) -> None:
    entry = {
        "id": "i-0abc",
        "name": "web-1",
        "host": "10.0.0.5",
        "port": 2222,
        "user": "admin",
        "protocol": "ssh",
        "region": "eu-west-1",
        "account": "1234",
        "tags": {"env": "prod"},
        "jump": "bastion",
    }
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"instances": [entry]}), encoding="utf-8")

    (instance,) = load_file(path)

    data = instance.to_dict()
    assert {key: data[key] for key in entry} == entry
    assert data["source"] == "inventory"
    assert data["demo"] is False


def test_file_without_instances_is_empty(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "empty.toml", "# nothing yet\n")) == []


@pytest.mark.parametrize(
    ("bad_line", "field"),
    [
        ('hots = "192.0.2.3"', "hots"),
        ('host = "192.0.2.3"\nport = 70000', "port"),
        ('host = "192.0.2.3"\nport = "22"', "port"),
        ('host = "192.0.2.3"\nport = 0', "port"),
        ('host = "192.0.2.3"\nport = true', "port"),
        ('host = "192.0.2.3"\nprotocol = "telnet"', "protocol"),
        ('host = "192.0.2.3"\ntags = { env = 1 }', "tags"),
        ('host = "192.0.2.3"\ntags = ["prod"]', "tags"),
        ('host = "192.0.2.3"\nuser = 0', "user"),
        ('host = "192.0.2.3"\nflavour = "large"', "flavour"),
        ('host = "   "', "host"),
    ],
)
def test_malformed_entry_names_file_line_and_field(
    tmp_path: Path, bad_line: str, field: str
) -> None:
    path = toml_with_bad_third_table(tmp_path, bad_line)

    with pytest.raises(InventoryError) as caught:
        load_file(path)

    message = caught.value.message
    assert str(path) in message
    assert "line 9:" in message
    assert f"field '{field}'" in message
    assert caught.value.details["field"] == field
    assert caught.value.details["where"] == f"{path}, line 9"


def test_missing_host_is_named(tmp_path: Path) -> None:
    path = toml_with_bad_third_table(tmp_path, 'user = "admin"')

    with pytest.raises(InventoryError, match=r"line 9: field 'host' is required"):
        load_file(path)


def test_unknown_field_error_lists_the_known_ones(tmp_path: Path) -> None:
    path = toml_with_bad_third_table(tmp_path, 'hostname = "192.0.2.3"')

    with pytest.raises(InventoryError) as caught:
        load_file(path)

    assert "field 'hostname' is not a known field" in caught.value.message
    assert "host, id, jump" in caught.value.message


def test_bad_name_is_refused(tmp_path: Path) -> None:
    path = toml_with_bad_third_table(tmp_path, 'host = "192.0.2.3"\nname = "x"')

    # A duplicate key is a TOML syntax error, reported with its line.
    with pytest.raises(InventoryError, match=r"line 12"):
        load_file(path)

    with pytest.raises(InventoryError, match=r"field 'name' may hold only"):
        instance_from_mapping({"name": "a b", "host": "h"}, where="config")


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fleet.toml",
        """\
        [[instances]]
        name = "a"
        host =
        """,
    )

    with pytest.raises(InventoryError) as caught:
        load_file(path)

    assert str(path) in caught.value.message
    assert "line 3" in caught.value.message
    assert caught.value.details["file"] == str(path)


def test_json_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "fleet.json", '{"instances": [\n  {"name": "a",}\n]}\n')

    with pytest.raises(InventoryError) as caught:
        load_file(path)

    assert caught.value.message.startswith(f"{path}, line 2:")
    assert caught.value.details == {"file": str(path), "line": 2}


def test_json_entry_error_names_its_position(tmp_path: Path) -> None:
    entries = [{"name": "a", "host": "h"}, {"name": "b", "host": "h", "port": 70000}]
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"instances": entries}), encoding="utf-8")

    with pytest.raises(InventoryError, match=r"instance 2: field 'port'"):
        load_file(path)


def test_instances_must_be_a_list_of_tables(tmp_path: Path) -> None:
    not_a_list = write(tmp_path, "a.toml", 'instances = "web-1"\n')
    not_tables = write(tmp_path, "b.toml", 'instances = ["web-1"]\n')
    not_a_table = write(tmp_path, "c.json", "[]")

    with pytest.raises(InventoryError, match=r"must be a list of tables"):
        load_file(not_a_list)
    with pytest.raises(InventoryError, match=r"each instance must be a table"):
        load_file(not_tables)
    with pytest.raises(InventoryError, match=r"top level must be a table"):
        load_file(not_a_table)


def test_unreadable_file_is_an_inventory_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b"# caf\xe9\n")

    with pytest.raises(InventoryError, match=r"cannot read the inventory"):
        load_file(missing)
    with pytest.raises(InventoryError, match=r"cannot read the inventory"):
        load_file(latin1)


SSH_CONFIG = """\
# Personal machines.
Host web web-alias
    HostName 10.0.0.5
    Port 2222
    User admin
    ProxyJump jumper@bastion

host bastion
  hostname=192.0.2.10
  USER = ops
  # a comment inside a block
  Port 22

Host *.internal !secret db?
    User nobody

Host db-*
    Port 5432

Match host foo exec "true"
    User matched

Host after-match
    HostName 192.0.2.20
    ProxyJump none

Host multi-jump
    ProxyJump first,second

Host star-mixed *
    User mixed

Host "quoted"
    Port 2200
    Port 2201

Host bad-port
    Port ssh

Host *
    User everyone
    Port 2022
"""


@pytest.fixture
def ssh_config(tmp_path: Path) -> list[Instance]:
    return load_ssh_config(write(tmp_path, "config", SSH_CONFIG))


def by_name(instances: list[Instance]) -> dict[str, Instance]:
    return {instance.name: instance for instance in instances}


def test_ssh_config_hosts_with_several_names(ssh_config: list[Instance]) -> None:
    found = by_name(ssh_config)

    for name in ("web", "web-alias"):
        assert (found[name].host, found[name].port, found[name].user) == (
            "10.0.0.5",
            2222,
            "admin",
        )
        assert found[name].jump == "bastion"
        assert found[name].source == "ssh_config"


def test_ssh_config_key_equals_value_and_any_case(ssh_config: list[Instance]) -> None:
    bastion = by_name(ssh_config)["bastion"]

    assert (bastion.host, bastion.port, bastion.user) == ("192.0.2.10", 22, "ops")


def test_ssh_config_skips_patterns_and_match_blocks(ssh_config: list[Instance]) -> None:
    names = [instance.name for instance in ssh_config]

    assert names == [
        "web",
        "web-alias",
        "bastion",
        "after-match",
        "multi-jump",
        "star-mixed",
        "quoted",
        "bad-port",
    ]
    assert by_name(ssh_config)["star-mixed"].user == "mixed"


def test_ssh_config_options_are_not_merged_from_host_star(
    ssh_config: list[Instance],
) -> None:
    after = by_name(ssh_config)["after-match"]

    # The Match block's User and the trailing Host * do not leak in.
    assert (after.host, after.port, after.user, after.jump) == (
        "192.0.2.20",
        22,
        None,
        None,
    )


def test_ssh_config_first_value_wins_and_odd_values(ssh_config: list[Instance]) -> None:
    found = by_name(ssh_config)

    assert found["quoted"].port == 2200
    assert found["bad-port"].port == 22
    assert found["multi-jump"].jump == "first"


def test_ssh_config_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_ssh_config(tmp_path / "no-such-config") == []


def test_ssh_config_unusable_alias_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "config", "Host ok -bad\n  HostName 192.0.2.1\n")

    assert [instance.name for instance in load_ssh_config(path)] == ["ok"]


def test_lookup_by_name_and_by_id() -> None:
    web = Instance(name="web-1", host="10.0.0.5", id="i-0abc")
    inventory = Inventory([web, Instance(name="db", host="10.0.0.6")])

    assert inventory.get("web-1") is web
    assert inventory.get("i-0abc") is web
    assert inventory.get("db").id == "db"
    assert len(inventory) == 2


def test_unknown_instance_lists_the_known_names() -> None:
    inventory = Inventory(
        [Instance(name="web-1", host="h"), Instance(name="db", host="h")]
    )

    with pytest.raises(InstanceNotFound) as caught:
        inventory.get("nope")

    assert caught.value.message == "No instance named 'nope' (known: db, web-1)"
    assert caught.value.details == {"instance": "nope"}
    with pytest.raises(InstanceNotFound, match=r"known: none"):
        Inventory().get("nope")


def test_first_source_wins(tmp_path: Path) -> None:
    from_file = Instance(name="web", host="10.0.0.5")
    from_ssh_config = Instance(name="web", host="10.9.9.9", source="ssh_config")

    inventory = Inventory([from_file, from_ssh_config])

    assert inventory.get("web") is from_file
    assert len(inventory) == 1

    inventory.add(from_ssh_config, replace=True)

    assert inventory.get("web") is from_ssh_config


def test_demo_is_listed_first() -> None:
    inventory = Inventory(
        [
            Instance(name="alpha", host="h"),
            Instance(name="zz-demo", host="127.0.0.1", source="demo"),
        ]
    )

    assert [instance.name for instance in inventory] == ["zz-demo", "alpha"]


def test_a_name_used_twice_in_one_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "twice.toml"
    path.write_text(
        '[[instances]]\nname = "a"\nhost = "10.0.0.1"\n\n'
        '[[instances]]\nname = "a"\nhost = "10.0.0.2"\n'
    )

    with pytest.raises(InventoryError) as caught:
        load_file(path)

    assert (
        "line 5" in caught.value.message
        and "already used at line 1" in caught.value.message
    )
