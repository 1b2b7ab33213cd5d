"""/api/v1/rules: the packet-filter rule set. The database is the source of truth; every
change bumps the rule-set version and is published to packet-service at once (and again
by the reconcile loop until every target reports it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from pydantic import ValidationError

from ... import audit
from ...errors import ApiError, validation_error
from ...packet_link.rule_publisher import applied, quick_rounds
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
from .. import endpoint, parse_body, parse_query, respond

bp = Blueprint("rules", __name__, url_prefix="/api/v1/rules")
# How long a write waits for packet-service to confirm before answering "pending".
PUBLISH_WAIT_SECONDS = 1.0


def _publish(version: int) -> str:
    """Asks for the publish of `version`; "applied" once every target runs it or a later
    version. The write waits for that (up to PUBLISH_WAIT_SECONDS) only while publishing
    rounds are quick: a large set answers "pending" at once (rule_publisher.py)."""
    link = runtime().packet_link
    if not link.targets:
        return "no_targets"
    # The write must be committed before the publisher (another connection) reads it.
    runtime().database.end_request(ok=True)
    runtime().database.begin_request()
    publisher = link.publisher  # this process's RulePublisher, or the view of the holder's
    before = publisher.status(version)["targets"]
    if applied(before, version):  # overtaken: a later version is in force already
        return "applied"
    rounds = [t.get("round_seconds") for t in before]
    wait = PUBLISH_WAIT_SECONDS if all(quick_rounds(r) for r in rounds) else 0.0
    if publisher.notify(version, wait=wait, request_id=g.get("request_id")):
        return "applied"
    return "applied" if applied(publisher.status(version)["targets"], version) else "pending"


def _load(rule_id: str) -> dict[str, Any]:
    rule = store.get_rule(runtime().dal, rule_id)
    if rule is None:
        raise ApiError(404, "not_found", f"no rule with id {rule_id}")
    return rule


def _written(data: Any, model: Any, version: int, status: int = 200) -> Any:
    return respond(
        data, model, status=status, meta={"version": version, "publish": _publish(version)}
    )


@endpoint(
    bp,
    "",
    "GET",
    "List the rules in evaluation order",
    query=RuleListQuery,
    response=RuleOut,
    many=True,
)
def list_rules() -> Any:
    query = parse_query(RuleListQuery)
    dal = runtime().dal
    version, default_action, total = store.head(dal)
    start = (query.page - 1) * query.per_page
    rules = store.list_rules(dal, limitby=(start, start + query.per_page))
    meta = {
        "version": version,
        "default_action": default_action,
        "total": total,
        "page": query.page,
        "per_page": query.per_page,
    }
    return respond(rules, RuleOut, meta=meta)


@endpoint(
    bp, "", "POST", "Create a rule (appended last)", body=RuleIn, response=RuleOut, status=201
)
def create_rule() -> Any:
    payload = parse_body(RuleIn)
    rule, version = store.create_rule(runtime().dal, payload.model_dump())
    audit.record_caller_action(
        "rule_created", f"rule:{rule['id']}", {"name": rule["name"], "version": version}
    )
    return _written(rule, RuleOut, version, status=201)


@endpoint(bp, "/<rule_id>", "GET", "Get one rule", response=RuleOut)
def get_rule(rule_id: str) -> Any:
    return respond(_load(rule_id), RuleOut)


@endpoint(
    bp, "/<rule_id>", "PATCH", "Change some fields of a rule", body=RulePatchIn, response=RuleOut
)
def patch_rule(rule_id: str) -> Any:
    current = _load(rule_id)
    patch = parse_body(RulePatchIn).model_dump(exclude_unset=True)
    try:  # the merged rule must be valid as a whole (ports need a port protocol, …)
        merged = RuleIn.model_validate({**current, **patch}).model_dump()
    except ValidationError as error:
        raise validation_error(error, "body") from None
    version = store.update_rule(runtime().dal, rule_id, merged)
    # Only what really changed: a form that sends every field names just the edited ones.
    changes = {
        field: {"from": current.get(field), "to": merged[field]}
        for field in sorted(patch)
        if field in merged and merged[field] != current.get(field)
    }
    audit.record_caller_action(
        "rule_updated",
        f"rule:{rule_id}",
        {"name": merged["name"], "fields": sorted(changes), "changes": changes, "version": version},
    )
    return _written(_load(rule_id), RuleOut, version)


@endpoint(bp, "/<rule_id>", "DELETE", "Delete a rule", response=RuleOut)
def delete_rule(rule_id: str) -> Any:
    rule = _load(rule_id)
    version = store.delete_rule(runtime().dal, rule_id)
    audit.record_caller_action(
        "rule_deleted", f"rule:{rule_id}", {"name": rule["name"], "version": version}
    )
    return _written(rule, RuleOut, version)


@endpoint(
    bp,
    "/reorder",
    "POST",
    "Set the evaluation order (every rule id once)",
    body=ReorderIn,
    response=RuleOut,
    many=True,
)
def reorder_rules() -> Any:
    ids = parse_body(ReorderIn).ids
    dal = runtime().dal
    existing = {rule["id"] for rule in store.list_rules(dal)}
    if len(ids) != len(set(ids)) or set(ids) != existing:
        missing = sorted(existing - set(ids))
        unknown = sorted(set(ids) - existing)
        raise ApiError(
            422,
            "validation_error",
            "ids must list every rule id exactly once",
            {
                "fields": {"ids": "must be a permutation of the current rule ids"},
                "missing": missing,
                "unknown": unknown,
            },
        )
    version = store.reorder(dal, ids)
    audit.record_caller_action("rules_reordered", "rules", {"version": version})
    return _written(store.list_rules(dal), RuleOut, version)


@endpoint(
    bp,
    "/default-action",
    "PUT",
    "Set the verdict when no rule matches",
    body=DefaultActionIn,
    response=RuleStatusOut,
)
def set_default_action() -> Any:
    action = parse_body(DefaultActionIn).default_action
    version = store.set_default_action(runtime().dal, action)
    audit.record_caller_action(
        "rules_default_action", "rules", {"default_action": action, "version": version}
    )
    publish = _publish(version)
    return respond(_status(), RuleStatusOut, meta={"version": version, "publish": publish})


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


def _status() -> dict[str, Any]:
    state = store.current(runtime().dal)
    status = runtime().packet_link.publisher.status(state.version)
    return {**status, "default_action": state.default_action}


@endpoint(
    bp,
    "/status",
    "GET",
    "Rule-set deployment: desired vs applied version per target",
    response=RuleStatusOut,
)
def rules_status() -> Any:
    return respond(_status(), RuleStatusOut)
