"""Policy conditions: ``Bool`` on ``ecs-workbench:SessionRecorded``, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_workbench.gateway.errors import PolicyInvalid
from jupyter_workbench.gateway.inventory import Instance
from jupyter_workbench.gateway.policy import (
    LOGIN,
    SESSION_RECORDED,
    UPLOAD_FILE,
    evaluate,
    parse_document,
    parse_policies,
)

INSTANCE = Instance(name="web-1", host="10.0.0.1", id="i-001")
ALLOW_ALL = {"Effect": "Allow", "Action": "ecs-workbench:*", "Resource": "*"}


def recorded_only(effect: str, value: Any, key: str = SESSION_RECORDED) -> dict:
    return {
        "Effect": effect,
        "Action": LOGIN,
        "Resource": "*",
        "Condition": {"Bool": {key: value}},
    }


def decide(*statements: dict, action: str = LOGIN, context: dict | None = None):
    document = {"Version": "1", "Statement": list(statements)}
    policies = parse_policies(
        [{"name": "P", "users": ["*"], "document": document}], where="test"
    )
    return evaluate(policies, "alice", (), action, INSTANCE, context)


UNRECORDED = {SESSION_RECORDED: False}
RECORDED = {SESSION_RECORDED: True}
DENY_UNRECORDED = recorded_only("Deny", "false")
ALLOW_RECORDED = recorded_only("Allow", "true")

CASES = [
    # (name, statements, action, context, allowed, deciding statement)
    (
        "deny unrecorded: login itself",
        [ALLOW_ALL, DENY_UNRECORDED],
        LOGIN,
        None,
        True,
        1,
    ),
    (
        "deny unrecorded: plain terminal",
        [ALLOW_ALL, DENY_UNRECORDED],
        LOGIN,
        UNRECORDED,
        False,
        2,
    ),
    (
        "deny unrecorded: recorded terminal",
        [ALLOW_ALL, DENY_UNRECORDED],
        LOGIN,
        RECORDED,
        True,
        1,
    ),
    (
        "deny unrecorded: other actions",
        [ALLOW_ALL, DENY_UNRECORDED],
        UPLOAD_FILE,
        None,
        True,
        1,
    ),
    ("allow recorded: login itself", [ALLOW_RECORDED], LOGIN, None, False, None),
    (
        "allow recorded: plain terminal",
        [ALLOW_RECORDED],
        LOGIN,
        UNRECORDED,
        False,
        None,
    ),
    ("allow recorded: recorded terminal", [ALLOW_RECORDED], LOGIN, RECORDED, True, 1),
    ("bool as JSON true", [recorded_only("Allow", True)], LOGIN, RECORDED, True, 1),
    (
        "either value",
        [recorded_only("Allow", ["true", "false"])],
        LOGIN,
        UNRECORDED,
        True,
        1,
    ),
    (
        "key ignores case",
        [recorded_only("Allow", "TRUE", "ECS-Workbench:sessionrecorded")],
        LOGIN,
        RECORDED,
        True,
        1,
    ),
]


@pytest.mark.parametrize(
    ("statements", "action", "context", "allowed", "statement"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_conditions_decide_as_documented(
    statements, action, context, allowed, statement
):
    decision = decide(*statements, action=action, context=context)
    assert (decision.allowed, decision.statement) == (allowed, statement)


MALFORMED = [
    ("empty", {}, "object of operators"),
    ("not an object", "Bool", "object of operators"),
    (
        "other operator",
        {"StringEquals": {SESSION_RECORDED: "true"}},
        "unsupported operator",
    ),
    ("unknown key", {"Bool": {"acs:SourceIp": "true"}}, "unknown condition key"),
    ("no keys", {"Bool": {}}, "must map condition keys"),
    ("not a boolean", {"Bool": {SESSION_RECORDED: "yes"}}, "not 'yes'"),
    ("number", {"Bool": {SESSION_RECORDED: 1}}, "not 1"),
    ("no values", {"Bool": {SESSION_RECORDED: []}}, "needs a value"),
]


@pytest.mark.parametrize(
    ("condition", "problem"),
    [c[1:] for c in MALFORMED],
    ids=[c[0] for c in MALFORMED],
)
def test_malformed_conditions_are_refused_naming_the_statement(condition, problem):
    document = {
        "Version": "1",
        "Statement": [ALLOW_ALL, {**ALLOW_ALL, "Condition": condition}],
    }
    with pytest.raises(PolicyInvalid, match=problem) as caught:
        parse_document(document, name="bad")
    assert caught.value.details["statement"] == 2
    assert caught.value.details["field"] == "Condition"
