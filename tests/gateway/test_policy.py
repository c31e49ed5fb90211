"""Access policies: parsing, evaluation, attachment and the policy file."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_workbench.gateway.errors import PolicyDenied, PolicyInvalid
from jupyter_workbench.gateway.inventory import Instance
from jupyter_workbench.gateway.policy import (
    ALL,
    DOWNLOAD_FILE,
    LOGIN,
    UPLOAD_FILE,
    PolicyStore,
    ResourcePattern,
    evaluate,
    parse_document,
    parse_policies,
    require,
    resource_of,
    wildcard_match,
)

# The two examples of the cloud's Workbench documentation.
ALLOW_ALL = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "ecs-workbench:*", "Resource": "*"}],
}
ONLY_001_002 = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "ecs-workbench:LoginInstance",
            "Resource": [
                "acs:ecs-workbench:*:*:workbench/i-001",
                "acs:ecs-workbench:*:*:workbench/i-002",
            ],
        }
    ],
}


def doc(*statements: dict) -> dict:
    return {"Version": "1", "Statement": list(statements)}


def stmt(effect: str, action, resource) -> dict:
    return {"Effect": effect, "Action": action, "Resource": resource}


def inst(id: str, region: str = "cn-hangzhou", account: str = "1234567890") -> Instance:
    return Instance(
        name=f"n-{id}", host="10.0.0.1", id=id, region=region, account=account
    )


def decide(document: dict, action: str, instance: Instance, *, user="alice", groups=()):
    policies = parse_policies(
        [{"name": "P", "users": ["alice"], "groups": ["ops"], "document": document}],
        where="test",
    )
    return evaluate(policies, user, groups, action, instance)


CASES = [
    # (name, document, action, instance, allowed)
    ("allow all: login", ALLOW_ALL, LOGIN, inst("i-009"), True),
    ("allow all: upload", ALLOW_ALL, UPLOAD_FILE, inst("i-009", "us-west-1"), True),
    ("only 001/002: i-001", ONLY_001_002, LOGIN, inst("i-001"), True),
    (
        "only 001/002: i-002 other region",
        ONLY_001_002,
        LOGIN,
        inst("i-002", "eu-1"),
        True,
    ),
    ("only 001/002: i-003", ONLY_001_002, LOGIN, inst("i-003"), False),
    ("only 001/002: other action", ONLY_001_002, DOWNLOAD_FILE, inst("i-001"), False),
    (
        "deny overrides allow",
        doc(
            stmt("Allow", ALL, "*"),
            stmt("Deny", LOGIN, "acs:ecs-workbench:*:*:workbench/i-001"),
        ),
        LOGIN,
        inst("i-001"),
        False,
    ),
    (
        "deny of another instance leaves allow",
        doc(
            stmt("Allow", ALL, "*"),
            stmt("Deny", LOGIN, "acs:ecs-workbench:*:*:workbench/i-001"),
        ),
        LOGIN,
        inst("i-002"),
        True,
    ),
    (
        "deny written first still wins",
        doc(stmt("Deny", "ecs-workbench:*", "*"), stmt("Allow", LOGIN, "*")),
        LOGIN,
        inst("i-001"),
        False,
    ),
    (
        "region wildcard",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:cn-*:*:workbench/*")),
        LOGIN,
        inst("i-1", "cn-beijing"),
        True,
    ),
    (
        "region wildcard misses",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:cn-*:*:workbench/*")),
        LOGIN,
        inst("i-1", "us-east-1"),
        False,
    ),
    (
        "account wildcard ?",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:*:12345678?0:workbench/*")),
        LOGIN,
        inst("i-1"),
        True,
    ),
    (
        "account exact misses",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:*:999:*")),
        LOGIN,
        inst("i-1"),
        False,
    ),
    (
        "instance wildcard",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:*:*:workbench/i-0??")),
        LOGIN,
        inst("i-042"),
        True,
    ),
    (
        "? is exactly one character",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:*:*:workbench/i-0??")),
        LOGIN,
        inst("i-0421"),
        False,
    ),
    (
        "a * in one segment does not reach into the next",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:cn*:*:workbench/i-1")),
        LOGIN,
        inst("i-1", "us", "cn"),
        False,
    ),
    (
        "actions ignore case",
        doc(stmt("Allow", "ECS-WORKBENCH:logininstance", "*")),
        LOGIN,
        inst("i-1"),
        True,
    ),
    (
        "action wildcard",
        doc(stmt("Allow", "ecs-workbench:*File", "*")),
        DOWNLOAD_FILE,
        inst("i-1"),
        True,
    ),
    (
        "action wildcard misses",
        doc(stmt("Allow", "ecs-workbench:*File", "*")),
        LOGIN,
        inst("i-1"),
        False,
    ),
    (
        "a deny by region covers instances of unknown region",
        doc(
            stmt("Allow", ALL, "*"),
            stmt("Deny", LOGIN, "acs:ecs-workbench:cn-*:*:workbench/*"),
        ),
        LOGIN,
        inst("i-1", "*", "*"),
        False,
    ),
    (
        "an allow by region does not open instances of unknown region",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:cn-*:*:workbench/*")),
        LOGIN,
        inst("i-1", "*"),
        False,
    ),
    (
        "upload and download are separate",
        doc(stmt("Allow", DOWNLOAD_FILE, "*")),
        UPLOAD_FILE,
        inst("i-1"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("document", "action", "instance", "allowed"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decisions_follow_the_documents(document, action, instance, allowed):
    assert decide(document, action, instance).allowed is allowed


def test_decision_names_the_statement():
    document = doc(stmt("Allow", ALL, "*"), stmt("Deny", LOGIN, "*"))
    decision = decide(document, LOGIN, inst("i-1"))
    assert (decision.policy, decision.statement) == ("P", 2)
    assert str(decision) == "denied, because statement 2 of policy P denies it"
    decision = decide(document, UPLOAD_FILE, inst("i-1"))
    assert str(decision) == "allowed, because statement 1 of policy P allows it"
    decision = decide(ONLY_001_002, LOGIN, inst("i-7"))
    assert str(decision) == "denied, because no statement allows it for alice"


def test_users_and_groups():
    assert decide(ALLOW_ALL, LOGIN, inst("i-1"), user="alice").allowed
    assert not decide(ALLOW_ALL, LOGIN, inst("i-1"), user="bob").allowed
    assert decide(ALLOW_ALL, LOGIN, inst("i-1"), user="bob", groups=["ops"]).allowed
    assert not decide(ALLOW_ALL, LOGIN, inst("i-1"), user="bob", groups=["dev"]).allowed
    everyone = parse_policies(
        [{"name": "E", "users": ["*"], "document": ALLOW_ALL}], where="t"
    )
    assert evaluate(everyone, "carol", (), LOGIN, inst("i-1")).allowed


def test_deny_in_a_group_policy_beats_allow_in_a_user_policy():
    policies = parse_policies(
        [
            {"name": "mine", "users": ["alice"], "document": ALLOW_ALL},
            {
                "name": "no-prod",
                "groups": ["contractors"],
                "document": doc(
                    stmt("Deny", ALL, "acs:ecs-workbench:*:*:workbench/prod-*")
                ),
            },
        ],
        where="t",
    )
    decision = evaluate(policies, "alice", ["contractors"], LOGIN, inst("prod-1"))
    assert str(decision) == "denied, because statement 1 of policy no-prod denies it"
    assert evaluate(policies, "alice", [], LOGIN, inst("prod-1")).allowed


MALFORMED = [
    ("not an object", [], None, None),
    ("no version", {"Statement": [stmt("Allow", LOGIN, "*")]}, None, "Version"),
    (
        "wrong version",
        {"Version": "2012-10-17", "Statement": [stmt("Allow", LOGIN, "*")]},
        None,
        "Version",
    ),
    ("empty statements", doc(), None, "Statement"),
    ("unknown top field", {**ALLOW_ALL, "Id": "x"}, None, "Id"),
    (
        "bad effect",
        doc(stmt("Allow", LOGIN, "*"), stmt("allow", LOGIN, "*")),
        2,
        "Effect",
    ),
    ("missing action", doc({"Effect": "Allow", "Resource": "*"}), 1, "Action"),
    ("empty action list", doc(stmt("Allow", [], "*")), 1, "Action"),
    ("action not a string", doc(stmt("Allow", [LOGIN, 3], "*")), 1, "Action"),
    (
        "unknown action",
        doc(stmt("Allow", "ecs-workbench:LoginInstances", "*")),
        1,
        "Action",
    ),
    ("other service", doc(stmt("Allow", "ecs:*", "*")), 1, "Action"),
    (
        "bad resource prefix",
        doc(stmt("Allow", LOGIN, "acs:ecs:*:*:instance/i-1")),
        1,
        "Resource",
    ),
    (
        "resource too short",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:*:workbench/i-1")),
        1,
        "Resource",
    ),
    (
        "resource bad tail",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench:*:*:instance/i-1")),
        1,
        "Resource",
    ),
    (
        "resource empty segment",
        doc(stmt("Allow", LOGIN, "acs:ecs-workbench::*:workbench/i-1")),
        1,
        "Resource",
    ),
    (
        "condition is not evaluated",
        doc({**stmt("Allow", LOGIN, "*"), "Condition": {}}),
        1,
        "Condition",
    ),
    (
        "NotAction is not evaluated",
        doc({"Effect": "Deny", "NotAction": LOGIN, "Resource": "*"}),
        1,
        "NotAction",
    ),
    ("statement not an object", doc("Allow"), 1, None),
]


@pytest.mark.parametrize(
    ("document", "statement", "field"),
    [c[1:] for c in MALFORMED],
    ids=[c[0] for c in MALFORMED],
)
def test_malformed_documents_name_statement_and_field(document, statement, field):
    with pytest.raises(PolicyInvalid) as caught:
        parse_document(document, name="bad")
    assert caught.value.details["statement"] == statement
    assert caught.value.details["field"] == field
    if statement is not None:
        assert f"statement {statement}" in caught.value.message
    if field is not None:
        assert repr(field) in caught.value.message


def test_document_may_be_json_text_and_a_single_statement():
    text = json.dumps({"Version": "1", "Statement": stmt("Allow", LOGIN, "*")})
    (statement,) = parse_document(text, name="t")
    assert statement.actions == (LOGIN,)
    with pytest.raises(PolicyInvalid, match="not JSON"):
        parse_document("{", name="t")


def test_attachments_are_checked():
    with pytest.raises(PolicyInvalid, match="two policies are named"):
        parse_policies([{"name": "a", "document": ALLOW_ALL}] * 2, where="t")
    with pytest.raises(PolicyInvalid, match="'users' must be a list"):
        parse_policies(
            [{"name": "a", "users": "alice", "document": ALLOW_ALL}], where="t"
        )
    with pytest.raises(PolicyInvalid, match="unknown field 'user'"):
        parse_policies([{"name": "a", "user": ["x"], "document": ALLOW_ALL}], where="t")


@pytest.fixture
def policy_log(caplog):
    """Capture the policy module's log even after a server test re-parented it."""
    logger = logging.getLogger("jupyter_workbench.gateway.policy")
    logger.addHandler(caplog.handler)
    old = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the handler is attached here; once is enough
    yield caplog
    logger.setLevel(old[0])
    logger.propagate = old[1]
    logger.removeHandler(caplog.handler)


def test_no_policies_allow_everything_and_say_so(policy_log):
    caplog = policy_log
    store = PolicyStore()
    assert store.decide("anyone", (), LOGIN, inst("i-1")).allowed
    assert store.decide("anyone", (), UPLOAD_FILE, inst("i-1")).allowed
    lines = [r for r in caplog.records if "No access policy" in r.getMessage()]
    assert len(lines) == 1


def test_require_raises_with_the_reason():
    decision = decide(ONLY_001_002, LOGIN, inst("i-3"))
    with pytest.raises(PolicyDenied) as caught:
        require(decision, "alice", inst("i-3"))
    assert caught.value.code == "policy_denied"
    assert "no statement allows" in caught.value.message
    assert caught.value.details["resource"] == resource_of(inst("i-3"))


def write_policy_file(path: Path, data: object) -> None:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    # A changed size or inode is noticed too, but bump the mtime so a rewrite
    # within the file system's timestamp granularity cannot be missed.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_policy_file_is_reread_when_it_changes(tmp_path, policy_log):
    caplog = policy_log
    path = tmp_path / "policies.json"
    write_policy_file(
        path,
        {
            "policies": [{"name": "ops", "groups": ["ops"], "document": ALLOW_ALL}],
            "groups": {"ops": ["alice"]},
        },
    )
    store = PolicyStore(path=path)
    assert store.decide("alice", (), LOGIN, inst("i-1")).allowed
    assert not store.decide("bob", (), LOGIN, inst("i-1")).allowed

    write_policy_file(
        path,
        {
            "policies": [{"name": "ops", "groups": ["ops"], "document": ALLOW_ALL}],
            "groups": {"ops": ["bob"]},
        },
    )
    assert store.decide("bob", (), LOGIN, inst("i-1")).allowed
    assert not store.decide("alice", (), LOGIN, inst("i-1")).allowed

    # A broken file denies everything; it never falls back to the old rules.
    write_policy_file(
        path, '{"policies": [{"name": "ops", "document": {"Version": "1"}}]}'
    )
    decision = store.decide("bob", (), LOGIN, inst("i-1"))
    assert not decision.allowed
    # The user hears that the file is broken; what is wrong, and the
    # server's path, are for the administrator's log only.
    assert "policy file is invalid" in decision.reason
    assert "Statement" not in decision.reason and str(path) not in decision.reason
    assert any(
        "denying everything" in r.getMessage() and "Statement" in r.getMessage()
        for r in caplog.records
    )

    path.unlink()
    assert not store.decide("bob", (), LOGIN, inst("i-1")).allowed
    write_policy_file(
        path, {"policies": [{"name": "all", "users": ["*"], "document": ALLOW_ALL}]}
    )
    assert store.decide("bob", (), LOGIN, inst("i-1")).allowed


def test_invalid_policy_file_at_start_is_an_error(tmp_path):
    path = tmp_path / "p.json"
    write_policy_file(
        path,
        {
            "policies": [
                {"name": "x", "document": doc(stmt("Allow", "ecs-workbench:Nope", "*"))}
            ]
        },
    )
    with pytest.raises(PolicyInvalid, match="statement 1, field 'Action'"):
        PolicyStore(path=path)
    with pytest.raises(PolicyInvalid, match="cannot be used"):
        PolicyStore(path=tmp_path / "missing.json")


# -- properties of the matcher ----------------------------------------------------

segment = st.text(alphabet="ab-1*?", max_size=8)
plain = st.text(alphabet="ab-1:/", max_size=10)


@given(plain)
def test_a_value_matches_itself_and_star(value):
    assert wildcard_match(value, value)
    assert wildcard_match("*", value)


@given(plain, plain)
def test_without_wildcards_matching_is_equality(pattern, value):
    assert wildcard_match(pattern, value) is (pattern == value)


@given(plain)
def test_question_marks_match_exactly_that_many_characters(value):
    assert wildcard_match("?" * len(value), value)
    assert not wildcard_match("?" * (len(value) + 1), value)


@given(plain, plain, plain)
def test_star_matches_any_infix(prefix, middle, suffix):
    assert wildcard_match(f"{prefix}*{suffix}", prefix + middle + suffix)


@given(segment, segment, segment, plain.filter(lambda v: ":" not in v))
def test_resource_matching_is_per_segment(region, account, instance, value):
    pattern = ResourcePattern.parse(
        f"acs:ecs-workbench:{region or '*'}:{account or '*'}:workbench/{instance or '*'}"
    )
    expected = (
        wildcard_match(pattern.region, value)
        and wildcard_match(pattern.account, "acct")
        and wildcard_match(pattern.instance, "i-1")
    )
    assert pattern.matches(value, "acct", "i-1") is expected


@given(st.lists(st.sampled_from(["Allow", "Deny"]), min_size=1, max_size=6))
def test_any_matching_deny_wins_and_allow_needs_a_match(effects):
    document = doc(*(stmt(e, LOGIN, "*") for e in effects))
    decision = decide(document, LOGIN, inst("i-1"))
    assert decision.allowed is ("Deny" not in effects)
