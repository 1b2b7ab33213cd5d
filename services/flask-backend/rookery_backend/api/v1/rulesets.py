"""/api/v1/rulesets: many rule sets, each with its own version, default action and ordered
rules, owned by a team or global (docs/RULESETS.md). Set 1 is the default set, also served
as /api/v1/rules. Who may act on which set is the guard's (policy.py, access.py): these views
only narrow the listing to the sets the caller may read and check what the body names."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import access, audit
from ...errors import ApiError
from ...guard import current_principal
from ...policy import RESOURCE_SCOPES
from ...rules import store
from ...rules.model import (
    ReorderIn,
    RuleIn,
    RuleListQuery,
    RuleOut,
    RulePatchIn,
    RuleSetCreateIn,
    RuleSetListQuery,
    RuleSetOut,
    RuleSetPatchIn,
    RuleStatusOut,
)
from ...runtime import runtime
from .. import endpoint, parse_body, parse_query, respond
from . import rule_views

bp = Blueprint("rulesets", __name__, url_prefix="/api/v1/rulesets")
_RESOURCE_SCOPES = frozenset(RESOURCE_SCOPES)
ONE = "/<int:ruleset_id>"


def _with_counts(rulesets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sets with their rule and sensor counts and the caller's scopes on each (what the
    web UI offers: asked here rather than tried)."""
    dal = runtime().dal
    principal = current_principal()
    ids = [r["id"] for r in rulesets]
    rules = store.rule_counts(dal, ids) if ids else {}
    sensors = store.sensor_counts(dal, ids)
    return [
        {
            **r,
            "rule_count": rules.get(r["id"], 0),
            "sensor_count": sensors.get(r["id"], 0),
            "my_scopes": sorted(
                access.effective_scopes(principal, "ruleset", r["id"]) & _RESOURCE_SCOPES
            ),
        }
        for r in rulesets
    ]


def _one(ruleset_id: int) -> dict[str, Any]:
    return _with_counts([rule_views.load_ruleset(ruleset_id)])[0]


def _name_taken(name: str) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"a rule set named {name!r} exists already for that owner",
        {"fields": {"name": "taken by another rule set of the same team (or global set)"}},
    )


@endpoint(
    bp,
    "",
    "GET",
    "List the rule sets the caller may read",
    query=RuleSetListQuery,
    response=RuleSetOut,
    many=True,
)
def list_rulesets() -> Any:
    query = parse_query(RuleSetListQuery)
    dal = runtime().dal
    visible = access.visible_ids(current_principal(), "ruleset", "rules:read")
    total = store.count_rulesets(dal, visible)
    start = (query.page - 1) * query.per_page
    page = store.list_rulesets(dal, visible, limitby=(start, start + query.per_page))
    meta = {"total": total, "page": query.page, "per_page": query.per_page}
    return respond(_with_counts(page), RuleSetOut, meta=meta)


@endpoint(
    bp,
    "",
    "POST",
    "Create a rule set (global, or owned by a team)",
    body=RuleSetCreateIn,
    response=RuleSetOut,
    status=201,
    errors=((404, "no team with that id"), (409, "the owner has a rule set of that name")),
)
def create_ruleset() -> Any:
    payload = parse_body(RuleSetCreateIn)
    dal = runtime().dal
    if payload.team_id is not None and dal(dal.team.id == payload.team_id).isempty():
        raise ApiError(
            404,
            "not_found",
            f"no team with id {payload.team_id}",
            {"fields": {"team_id": "no such team"}},
        )
    try:
        ruleset = store.create_ruleset(
            dal, payload.name, payload.default_action, payload.team_id, payload.description
        )
    except store.NameTaken:
        raise _name_taken(payload.name) from None
    except store.TeamGone as error:  # deleted since the check above (row_locks.py)
        raise ApiError(
            404,
            "not_found",
            f"team {error.team_id} does not exist",
            {"fields": {"team_id": "no such team"}},
        ) from None
    audit.record_caller_action(
        "ruleset_created",
        f"ruleset:{ruleset['id']}",
        {
            "name": ruleset["name"],
            "team_id": ruleset["team_id"],
            "default_action": ruleset["default_action"],
            "version": ruleset["version"],
        },
    )
    access.invalidate()  # a team's members may act on it now
    return respond(
        _one(ruleset["id"]), RuleSetOut, status=201, meta={"version": ruleset["version"]}
    )


@endpoint(bp, ONE, "GET", "Get one rule set", response=RuleSetOut)
def get_ruleset(ruleset_id: int) -> Any:
    return respond(_one(ruleset_id), RuleSetOut)


@endpoint(
    bp,
    ONE,
    "PATCH",
    "Rename a rule set, change its description or default action (a new version)",
    body=RuleSetPatchIn,
    response=RuleSetOut,
    errors=((409, "the owner has a rule set of that name"),),
)
def patch_ruleset(ruleset_id: int) -> Any:
    before = rule_views.load_ruleset(ruleset_id)
    patch = parse_body(RuleSetPatchIn).model_dump(exclude_unset=True, exclude={"team_id"})
    if not patch:  # nothing to change: no new version, nothing to publish
        return respond(_one(ruleset_id), RuleSetOut, meta={"version": before["version"]})
    try:
        version = store.update_ruleset(runtime().dal, ruleset_id, patch)
    except store.NotFound as error:
        raise rule_views.gone(error) from None
    except store.NameTaken:
        raise _name_taken(patch["name"]) from None
    changes = {
        field: {"from": before[field], "to": value}
        for field, value in sorted(patch.items())
        if before[field] != value
    }
    audit.record_caller_action(
        "ruleset_updated",
        f"ruleset:{ruleset_id}",
        {
            "name": patch.get("name", before["name"]),
            "fields": sorted(changes),
            "changes": changes,
            "version": version,
        },
    )
    return rule_views.written(_one(ruleset_id), RuleSetOut, version, ruleset_id)


@endpoint(
    bp,
    ONE,
    "DELETE",
    "Delete a rule set with its rules and grants (not the default set, nor one in use)",
    response=RuleSetOut,
    errors=((409, "the default set, or sensors enforce the set (ruleset_in_use)"),),
)
def delete_ruleset(ruleset_id: int) -> Any:
    ruleset = _one(ruleset_id)
    if ruleset_id == store.DEFAULT_RULESET:
        raise ApiError(
            409,
            "default_ruleset",
            "the default rule set cannot be deleted (it is also /api/v1/rules)",
            {"ruleset_id": ruleset_id},
        )
    try:
        version = store.delete_ruleset(runtime().dal, ruleset_id)
    except store.NotFound as error:
        raise rule_views.gone(error) from None
    except store.InUse as error:
        raise ApiError(
            409,
            "ruleset_in_use",
            f"sensors enforce this rule set ({error.sensors}): move them to another set first",
            {"sensors": error.sensors},
        ) from None
    audit.record_caller_action(
        "ruleset_deleted",
        f"ruleset:{ruleset_id}",
        {
            "name": ruleset["name"],
            "team_id": ruleset["team_id"],
            "rule_count": ruleset["rule_count"],
            "version": version,
        },
    )
    access.invalidate()  # its grants and owner are gone
    runtime().datastore.changed()  # API keys restricted to it were revoked
    return respond(ruleset, RuleSetOut, meta={"version": version})


# -- the rules of one set (as /api/v1/rules… for the default set) ------------------------
@endpoint(
    bp,
    f"{ONE}/rules",
    "GET",
    "List a rule set's rules in evaluation order",
    query=RuleListQuery,
    response=RuleOut,
    many=True,
)
def list_rules(ruleset_id: int) -> Any:
    return rule_views.list_rules(ruleset_id)


@endpoint(
    bp,
    f"{ONE}/rules",
    "POST",
    "Create a rule in a rule set (appended last)",
    body=RuleIn,
    response=RuleOut,
    status=201,
)
def create_rule(ruleset_id: int) -> Any:
    rule_views.load_ruleset(ruleset_id)
    return rule_views.create_rule(ruleset_id)


@endpoint(bp, f"{ONE}/rules/<rule_id>", "GET", "Get one rule of a rule set", response=RuleOut)
def get_rule(ruleset_id: int, rule_id: str) -> Any:
    rule_views.load_ruleset(ruleset_id)
    return rule_views.get_rule(ruleset_id, rule_id)


@endpoint(
    bp,
    f"{ONE}/rules/<rule_id>",
    "PATCH",
    "Change some fields of a rule of a rule set",
    body=RulePatchIn,
    response=RuleOut,
)
def patch_rule(ruleset_id: int, rule_id: str) -> Any:
    rule_views.load_ruleset(ruleset_id)
    return rule_views.patch_rule(ruleset_id, rule_id)


@endpoint(bp, f"{ONE}/rules/<rule_id>", "DELETE", "Delete a rule of a rule set", response=RuleOut)
def delete_rule(ruleset_id: int, rule_id: str) -> Any:
    rule_views.load_ruleset(ruleset_id)
    return rule_views.delete_rule(ruleset_id, rule_id)


@endpoint(
    bp,
    f"{ONE}/rules/reorder",
    "POST",
    "Set a rule set's evaluation order (every rule id once)",
    body=ReorderIn,
    response=RuleOut,
    many=True,
)
def reorder_rules(ruleset_id: int) -> Any:
    rule_views.load_ruleset(ruleset_id)
    return rule_views.reorder_rules(ruleset_id)


@endpoint(
    bp,
    f"{ONE}/status",
    "GET",
    "A rule set's deployment: desired vs applied version per sensor enforcing it",
    response=RuleStatusOut,
)
def ruleset_status(ruleset_id: int) -> Any:
    return respond(rule_views.status(ruleset_id), RuleStatusOut)
