"""Selecting batch-run targets: names, globs, ranges, tags, groups, exclusions."""

from __future__ import annotations

import pytest

from jupyter_workbench.gateway.inventory import Instance, Inventory
from jupyter_workbench.gateway.targets import TargetError, expand_range, select


@pytest.fixture
def inventory() -> Inventory:
    instances = [
        Instance(
            name=f"web{n:02d}",
            host="10.0.0.1",
            tags={"env": "prod" if n < 3 else "dev", "group": "front,edge"},
        )
        for n in range(1, 5)
    ]
    instances += [
        Instance(name="db-1", host="10.0.0.2", id="i-db1", tags={"role": "db"}),
        Instance(name="win", host="10.0.0.3", protocol="rdp", tags={"env": "prod"}),
    ]
    return Inventory(instances)


def names(inventory: Inventory, selection, **kwargs) -> list[str]:
    return [i.name for i in select(inventory, selection, **kwargs)]


def test_names_globs_ranges_and_ids(inventory):
    assert names(inventory, "db-1") == ["db-1"]
    assert names(inventory, "i-db1") == ["db-1"]
    assert names(inventory, "web0*") == ["web01", "web02", "web03", "web04"]
    assert names(inventory, "web[02-03]") == ["web02", "web03"]
    assert names(inventory, "web[02-03], db-1") == ["db-1", "web02", "web03"]


def test_tags_groups_all_and_exclusions(inventory):
    assert names(inventory, "env=prod") == ["web01", "web02"]
    assert names(inventory, "role=d*") == ["db-1"]
    assert names(inventory, "@edge") == ["web01", "web02", "web03", "web04"]
    assert names(inventory, "@data", groups={"data": ["db-1"]}) == ["db-1"]
    assert names(inventory, "all,!web0*") == ["db-1"]
    assert names(inventory, ["all", "!env=dev"]) == ["db-1", "web01", "web02"]


def test_rdp_instances_are_left_out_of_patterns_and_refused_by_name(inventory):
    assert "win" not in names(inventory, "all")
    assert "win" not in names(inventory, "env=prod")
    with pytest.raises(TargetError, match="RDP"):
        select(inventory, "win")


def test_every_item_that_matches_nothing_is_named(inventory):
    with pytest.raises(TargetError) as caught:
        select(inventory, "web01,nope,env=qa,@ghosts")
    assert caught.value.details["unmatched"] == ["nope", "env=qa", "@ghosts"]
    assert "'nope'" in caught.value.message


def test_a_range_must_name_existing_instances(inventory):
    with pytest.raises(TargetError) as caught:
        select(inventory, "web[03-06]")
    assert caught.value.details["unmatched"] == ["web05", "web06"]


@pytest.mark.parametrize("selection", ["", " , ", []])
def test_an_empty_selection_is_refused(inventory, selection):
    with pytest.raises(TargetError, match="empty"):
        select(inventory, selection)


def test_exclusions_that_leave_nothing_are_refused(inventory):
    with pytest.raises(TargetError, match="leaves no instance"):
        select(inventory, "db-1,!db-1")


def test_range_expansion_keeps_padding_and_refuses_nonsense():
    assert expand_range("web[8-10]") == ["web8", "web9", "web10"]
    assert expand_range("web[08-10]") == ["web08", "web09", "web10"]
    assert expand_range("r[1-2]n[1-2]") == ["r1n1", "r1n2", "r2n1", "r2n2"]
    with pytest.raises(TargetError, match="backwards"):
        expand_range("web[5-1]")
    with pytest.raises(TargetError, match="more than"):
        expand_range("web[1-1000000]")
