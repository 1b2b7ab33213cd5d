"""The rule operations of one rule set, shared by /api/v1/rulesets/<id>/rules… (any set) and
/api/v1/rules… (the default set). The database is the source of truth; every change gives the
set a new version (rules/store.py) and is published at once to the sensors enforcing that set
(and again by the reconcile loop until every one reports it)."""

from __future__ import annotations

from typing import Any

from flask import g
from pydantic import ValidationError

from ... import audit
from ...errors import ApiError, validation_error
from ...packet_link.rule_publisher import applied, quick_rounds
from ...rules import store
from ...rules.model import ReorderIn, RuleIn, RuleListQuery, RuleOut, RulePatchIn
from ...runtime import runtime
from .. import parse_body, parse_query, respond

DEFAULT = store.DEFAULT_RULESET


def _wait_seconds() -> float:
    # One setting for every rule set, kept where it always was (tests change it there).
    from . import rules

    return float(rules.PUBLISH_WAIT_SECONDS)


def publisher_status(version: int, ruleset_id: int) -> dict[str, Any]:
    """{"desired_version", "state", "targets"} of the sensors enforcing the set."""
    return dict(runtime().packet_link.publisher.status(version, ruleset_id=ruleset_id))


def publish(version: int, ruleset_id: int) -> str:
    """Asks for the publish of the set's `version`; "applied" once every sensor enforcing it
    runs it or a later version. The write waits for that (up to PUBLISH_WAIT_SECONDS) only
    while publishing rounds are quick: a large set answers "pending" at once
    (rule_publisher.py). "no_targets": no sensor enforces the set."""
    publisher = runtime().packet_link.publisher  # this process's, or the holder's view
    request_id = g.get("request_id")
    publisher.expect(request_id)  # the id goes with the version, whoever sees it first
    # The write must be committed before the publisher (another connection) reads it.
    runtime().database.end_request(ok=True)
    runtime().database.begin_request()
    before = publisher_status(version, ruleset_id)["targets"]
    if not before:
        return "no_targets"
    if applied(before, version):  # overtaken: a later version is in force already
        return "applied"
    rounds = [t.get("round_seconds") for t in before]
    wait = _wait_seconds() if all(quick_rounds(r) for r in rounds) else 0.0
    if publisher.notify(version, wait=wait, request_id=request_id, ruleset_id=ruleset_id):
        return "applied"
    after = publisher_status(version, ruleset_id)["targets"]
    return "applied" if applied(after, version) else "pending"


def load_ruleset(ruleset_id: int) -> dict[str, Any]:
    found = store.get_ruleset(runtime().dal, ruleset_id)
    if found is None:
        raise ApiError(404, "not_found", f"no rule set with id {ruleset_id}")
    return found


def load_rule(ruleset_id: int, rule_id: str) -> dict[str, Any]:
    rule = store.get_rule(runtime().dal, rule_id, ruleset_id)
    if rule is None:
        where = "" if ruleset_id == DEFAULT else f" in rule set {ruleset_id}"
        raise ApiError(404, "not_found", f"no rule with id {rule_id}{where}")
    return rule


def gone(error: store.NotFound) -> ApiError:
    """A set or rule deleted by another request between our look and our write."""
    return ApiError(404, "not_found", str(error))


def written(data: Any, model: Any, version: int, ruleset_id: int, status: int = 200) -> Any:
    meta = {"version": version, "publish": publish(version, ruleset_id)}
    if ruleset_id != DEFAULT:
        meta["ruleset_id"] = ruleset_id
    return respond(data, model, status=status, meta=meta)


def _audit_details(ruleset_id: int, details: dict[str, Any]) -> dict[str, Any]:
    return details if ruleset_id == DEFAULT else {**details, "ruleset_id": ruleset_id}


def list_rules(ruleset_id: int) -> Any:
    query = parse_query(RuleListQuery)
    dal = runtime().dal
    try:
        version, default_action, total = store.head(dal, ruleset_id)
    except store.NotFound as error:
        raise gone(error) from None
    start = (query.page - 1) * query.per_page
    rules = store.list_rules(dal, limitby=(start, start + query.per_page), ruleset_id=ruleset_id)
    meta = {
        "version": version,
        "default_action": default_action,
        "total": total,
        "page": query.page,
        "per_page": query.per_page,
    }
    return respond(rules, RuleOut, meta=meta)


def create_rule(ruleset_id: int) -> Any:
    payload = parse_body(RuleIn)
    try:
        rule, version = store.create_rule(runtime().dal, payload.model_dump(), ruleset_id)
    except store.NotFound as error:
        raise gone(error) from None
    audit.record_caller_action(
        "rule_created",
        f"rule:{rule['id']}",
        _audit_details(ruleset_id, {"name": rule["name"], "version": version}),
    )
    return written(rule, RuleOut, version, ruleset_id, status=201)


def get_rule(ruleset_id: int, rule_id: str) -> Any:
    return respond(load_rule(ruleset_id, rule_id), RuleOut)


def patch_rule(ruleset_id: int, rule_id: str) -> Any:
    current = load_rule(ruleset_id, rule_id)
    patch = parse_body(RulePatchIn).model_dump(exclude_unset=True)
    try:  # the merged rule must be valid as a whole (ports need a port protocol, …)
        merged = RuleIn.model_validate({**current, **patch}).model_dump()
    except ValidationError as error:
        raise validation_error(error, "body") from None
    try:
        version = store.update_rule(runtime().dal, rule_id, merged, ruleset_id)
    except store.NotFound as error:
        raise gone(error) from None
    # Only what really changed: a form that sends every field names just the edited ones.
    changes = {
        field: {"from": current.get(field), "to": merged[field]}
        for field in sorted(patch)
        if field in merged and merged[field] != current.get(field)
    }
    audit.record_caller_action(
        "rule_updated",
        f"rule:{rule_id}",
        _audit_details(
            ruleset_id,
            {
                "name": merged["name"],
                "fields": sorted(changes),
                "changes": changes,
                "version": version,
            },
        ),
    )
    return written(load_rule(ruleset_id, rule_id), RuleOut, version, ruleset_id)


def delete_rule(ruleset_id: int, rule_id: str) -> Any:
    rule = load_rule(ruleset_id, rule_id)
    try:
        version = store.delete_rule(runtime().dal, rule_id, ruleset_id)
    except store.NotFound as error:
        raise gone(error) from None
    audit.record_caller_action(
        "rule_deleted",
        f"rule:{rule_id}",
        _audit_details(ruleset_id, {"name": rule["name"], "version": version}),
    )
    return written(rule, RuleOut, version, ruleset_id)


def reorder_rules(ruleset_id: int) -> Any:
    ids = parse_body(ReorderIn).ids
    dal = runtime().dal
    existing = {rule["id"] for rule in store.list_rules(dal, ruleset_id=ruleset_id)}
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
    try:
        version = store.reorder(dal, ids, ruleset_id)
    except store.NotFound as error:
        raise gone(error) from None
    target = "rules" if ruleset_id == DEFAULT else f"ruleset:{ruleset_id}"
    audit.record_caller_action(
        "rules_reordered", target, _audit_details(ruleset_id, {"version": version})
    )
    return written(store.list_rules(dal, ruleset_id=ruleset_id), RuleOut, version, ruleset_id)


def status(ruleset_id: int) -> dict[str, Any]:
    ruleset = load_ruleset(ruleset_id)
    found = publisher_status(ruleset["version"], ruleset_id)
    return {**found, "default_action": ruleset["default_action"]}
