"""/api/v1/rulesets/<ruleset_id>/grants: who else may use one rule set.

A grant gives a user, or every member of a team, a grant role on one rule set: owner, editor,
viewer (policy.GRANT_ROLES) or "custom" with its own scopes (among the scopes a grant role can
carry). Nobody grants more than they hold on that rule set, nor takes away a grant carrying
scopes they lack. Every change is audited. docs/TEAMS.md.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import access, audit, row_locks
from ...credentials import Principal
from ...db import unique_violation
from ...errors import ApiError
from ...guard import current_principal
from ...policy import GRANT_ROLES
from ...runtime import runtime
from ...utils import utcnow
from .. import endpoint, parse_body, parse_query, respond
from .team_bodies import GrantIn, GrantOut, PageQuery, exactly_one
from .teams import find_account, page_meta

bp = Blueprint("grants", __name__, url_prefix="/api/v1/rulesets")

# What a custom grant may carry: the scopes of the built-in grant roles.
GRANT_SCOPES: frozenset[str] = frozenset(s for _, scopes in GRANT_ROLES.values() for s in scopes)


def load_ruleset(ruleset_id: int) -> Any:
    dal = runtime().dal
    rs = dal.packet_ruleset
    row = dal(rs.id == ruleset_id).select(rs.id, rs.name, rs.team_id, limitby=(0, 1)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no rule set with id {ruleset_id}")
    return row


def _label(row: Any) -> str:
    return row.name or ("default" if row.id == 1 else f"rule set {row.id}")


def _holders(rows: list[Any]) -> dict[tuple[str, int], str]:
    dal = runtime().dal
    users = sorted({r.user_id for r in rows if r.user_id is not None})
    teams = sorted({r.team_id for r in rows if r.team_id is not None})
    names: dict[tuple[str, int], str] = {}
    if users:
        for u in dal(dal.auth_user.id.belongs(users)).select(dal.auth_user.id, dal.auth_user.email):
            names["user", u.id] = u.email
    if teams:
        for t in dal(dal.team.id.belongs(teams)).select(dal.team.id, dal.team.name):
            names["team", t.id] = t.name
    return names


def grant_json(row: Any, holders: dict[tuple[str, int], str]) -> dict[str, Any]:
    holder = (
        holders.get(("user", row.user_id)) if row.user_id else holders.get(("team", row.team_id))
    )
    return {
        "id": row.id,
        "ruleset_id": row.ruleset_id,
        "user_id": row.user_id,
        "team_id": row.team_id,
        "holder": holder,
        "role": row.role,
        "scopes": sorted(access.grant_scopes(row.role, row.scopes)),
        "created_at": row.created_at,
        "created_by": row.created_by,
    }


def _check_may_grant(principal: Principal, ruleset_id: int, scopes: frozenset[str]) -> None:
    missing = sorted(scopes - access.effective_scopes(principal, "ruleset", ruleset_id))
    if missing:
        raise ApiError(
            403,
            "scope_escalation",
            "you cannot give or take away a grant holding scopes you do not hold on this rule set",
            {"scopes": missing},
        )


def _may_see_team(principal: Principal, team_id: int) -> bool:
    """The team exists and the caller may see it: global teams:read, teams:read on it
    through a team role, or simply a member of it."""
    dal = runtime().dal
    if not row_locks.keep(dal, "team", team_id):  # kept until the grant is written
        return False
    if access.allowed(principal, "teams:read", "team", team_id):
        return True
    if access.is_restricted(principal) and principal.key_team_id != team_id:
        return False
    return team_id in access.snapshot().memberships.get(principal.user.id, {})


def _audit(event: str, ruleset: Any, row: Any, holder: str | None) -> None:
    audit.record_caller_action(
        event,
        f"ruleset:{ruleset.id}",
        {
            "name": _label(ruleset),
            "grant_id": row.id,
            "user_id": row.user_id,
            "team_id": row.team_id,
            "holder": holder,
            "role": row.role,
            "scopes": sorted(access.grant_scopes(row.role, row.scopes)),
        },
    )


@endpoint(
    bp,
    "/<int:ruleset_id>/grants",
    "GET",
    "The grants on a rule set (paginated)",
    query=PageQuery,
    response=GrantOut,
    many=True,
)
def list_grants(ruleset_id: int) -> Any:
    dal = runtime().dal
    query = parse_query(PageQuery)
    load_ruleset(ruleset_id)
    condition = dal.ruleset_grant.ruleset_id == ruleset_id
    total = dal(condition).count()
    start = (query.page - 1) * query.per_page
    rows = list(
        dal(condition).select(orderby=dal.ruleset_grant.id, limitby=(start, start + query.per_page))
    )
    holders = _holders(rows)
    return respond([grant_json(r, holders) for r in rows], GrantOut, meta=page_meta(query, total))


@endpoint(
    bp,
    "/<int:ruleset_id>/grants",
    "POST",
    "Grant a user (by e-mail address; by user id: needs users:read) or a team a role on a rule set",
    body=GrantIn,
    response=GrantOut,
    status=201,
    errors=(
        (
            403,
            "the credential lacks the scope; scope_escalation: a grant beyond your own scopes"
            " on this rule set; insufficient_scope: a user id without the global users:read"
            " scope; feature_not_licensed: the licence does not turn on 'multi_tenancy'",
        ),
        (404, "no such rule set, no account with this e-mail address, or no team you may see"),
    ),
)
def create_grant(ruleset_id: int) -> Any:
    dal = runtime().dal
    principal = current_principal()
    payload = parse_body(GrantIn)
    field = exactly_one(payload, ("email", "user_id", "team_id"))
    row_locks.keep(dal, "packet_ruleset", ruleset_id)  # a deletion waits, or goes first
    ruleset = load_ruleset(ruleset_id)
    if payload.role == "custom":
        scopes = frozenset(payload.scopes or ())
        outside = sorted(scopes - GRANT_SCOPES)
        if outside:
            message = f"not a scope a grant can carry: {', '.join(outside)}"
            raise ApiError(422, "validation_error", message, {"fields": {"scopes": message}})
    else:
        scopes = frozenset(GRANT_ROLES[payload.role][1])
    table = dal.ruleset_grant
    _check_may_grant(principal, ruleset_id, scopes)
    if field == "team_id":
        assert payload.team_id is not None
        user_id, team_id = None, payload.team_id
        if not _may_see_team(principal, team_id):
            # A team the caller may not see answers exactly as one that does not exist.
            raise ApiError(
                404,
                "not_found",
                "no team you may see has this id",
                {"fields": {"team_id": "unknown team"}},
            )
    else:
        user_id, _ = find_account(principal, payload.email, payload.user_id)
        team_id = None
    try:  # the unique indexes (ruleset_id, user_id | team_id) decide, also under a race
        grant_id = table.insert(
            ruleset_id=ruleset_id,
            user_id=user_id,
            team_id=team_id,
            role=payload.role,
            scopes=sorted(scopes) if payload.role == "custom" else None,
            created_at=utcnow(),
            created_by=principal.user.email,
        )
    except Exception as error:
        if unique_violation(error):
            raise ApiError(
                409,
                "conflict",
                "this rule set already has a grant for them: delete it to give another",
                {"fields": {field: "already granted"}},
            ) from None
        raise
    row = table[grant_id]
    access.invalidate()
    holders = _holders([row])
    body = grant_json(row, holders)
    _audit("grant_created", ruleset, row, body["holder"])
    return respond(body, GrantOut, status=201)


@endpoint(
    bp,
    "/<int:ruleset_id>/grants/<int:grant_id>",
    "DELETE",
    "Take a grant away",
    response=GrantOut,
)
def delete_grant(ruleset_id: int, grant_id: int) -> Any:
    dal = runtime().dal
    principal = current_principal()
    ruleset = load_ruleset(ruleset_id)
    table = dal.ruleset_grant
    row = (
        dal((table.id == grant_id) & (table.ruleset_id == ruleset_id))
        .select(limitby=(0, 1))
        .first()
    )
    if row is None:
        raise ApiError(404, "not_found", f"no grant with id {grant_id} on this rule set")
    _check_may_grant(principal, ruleset_id, access.grant_scopes(row.role, row.scopes))
    # With any copy of it: two grants racing each other can both have written the same row
    # (nothing in the schema forbids it yet), and taking it away must end it.
    same = (
        (table.ruleset_id == ruleset_id)
        & (table.user_id == row.user_id)
        & (table.team_id == row.team_id)
        & (table.role == row.role)
    )
    for copy in dal(same).select(table.id, table.scopes):
        if sorted(copy.scopes or []) == sorted(row.scopes or []):
            dal(table.id == copy.id).delete()
    access.invalidate()
    body = grant_json(row, _holders([row]))
    _audit("grant_deleted", ruleset, row, body["holder"])
    return respond(body, GrantOut)
