"""/api/v1/rules: the DEFAULT rule set (row 1; the same as /api/v1/rulesets/1/rules…), kept
exactly as it was when there was only one. The operations themselves are rule_views.py's,
shared with /api/v1/rulesets."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import audit
from ...rules import store
from ...rules.model import (
    DefaultActionIn,
    ReorderIn,
    RuleIn,
    RuleListQuery,
    RuleOut,
    RulePatchIn,
    RuleSetIn,
    RuleStatusOut,
    ValidationOut,
)
from ...runtime import runtime
from .. import endpoint, parse_body, respond
from . import rule_views

bp = Blueprint("rules", __name__, url_prefix="/api/v1/rules")
DEFAULT = store.DEFAULT_RULESET
# How long a write (to any rule set) waits for its sensors to confirm before answering
# "pending".
PUBLISH_WAIT_SECONDS = 1.0


@endpoint(
    bp,
    "",
    "GET",
    "List the default rule set's rules in evaluation order",
    query=RuleListQuery,
    response=RuleOut,
    many=True,
)
def list_rules() -> Any:
    return rule_views.list_rules(DEFAULT)


@endpoint(
    bp,
    "",
    "POST",
    "Create a rule in the default rule set (appended last)",
    body=RuleIn,
    response=RuleOut,
    status=201,
)
def create_rule() -> Any:
    return rule_views.create_rule(DEFAULT)


@endpoint(bp, "/<rule_id>", "GET", "Get one rule of the default rule set", response=RuleOut)
def get_rule(rule_id: str) -> Any:
    return rule_views.get_rule(DEFAULT, rule_id)


@endpoint(
    bp,
    "/<rule_id>",
    "PATCH",
    "Change some fields of a rule of the default rule set",
    body=RulePatchIn,
    response=RuleOut,
)
def patch_rule(rule_id: str) -> Any:
    return rule_views.patch_rule(DEFAULT, rule_id)


@endpoint(bp, "/<rule_id>", "DELETE", "Delete a rule of the default rule set", response=RuleOut)
def delete_rule(rule_id: str) -> Any:
    return rule_views.delete_rule(DEFAULT, rule_id)


@endpoint(
    bp,
    "/reorder",
    "POST",
    "Set the default rule set's evaluation order (every rule id once)",
    body=ReorderIn,
    response=RuleOut,
    many=True,
)
def reorder_rules() -> Any:
    return rule_views.reorder_rules(DEFAULT)


@endpoint(
    bp,
    "/default-action",
    "PUT",
    "Set the default rule set's verdict when no rule matches",
    body=DefaultActionIn,
    response=RuleStatusOut,
)
def set_default_action() -> Any:
    action = parse_body(DefaultActionIn).default_action
    version = store.set_default_action(runtime().dal, action, DEFAULT)
    audit.record_caller_action(
        "rules_default_action", "rules", {"default_action": action, "version": version}
    )
    publish = rule_views.publish(version, DEFAULT)
    return respond(
        rule_views.status(DEFAULT), RuleStatusOut, meta={"version": version, "publish": publish}
    )


@endpoint(
    bp,
    "/validate",
    "POST",
    "Validate a whole rule set without saving it (dry run)",
    body=RuleSetIn,
    response=ValidationOut,
)
def validate_rules() -> Any:
    payload = parse_body(RuleSetIn)
    return respond({"valid": True, "rule_count": len(payload.rules)}, ValidationOut)


@endpoint(
    bp,
    "/status",
    "GET",
    "Default rule set's deployment: desired vs applied version per target",
    response=RuleStatusOut,
)
def rules_status() -> Any:
    return respond(rule_views.status(DEFAULT), RuleStatusOut)
