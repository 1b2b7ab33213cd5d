"""/api/v1/teams and /api/v1/team-roles: teams, their members and team roles.

A member's team role gives them its scopes on the team and on every resource it owns (rule
sets, sensors): access.py. Nobody makes anyone more than they are themselves: a role is given,
changed or taken away only by a caller holding every scope of the roles involved on that team.
A team that still owns rule sets or sensors cannot be deleted (409 team_in_use): move or
delete them first. Deleting a team removes its memberships and the grants made to it, and
revokes the API keys restricted to it. Every change is audited. docs/TEAMS.md.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import Blueprint

from ... import access, audit, row_locks
from ...accounts import check_grantable
from ...credentials import Principal
from ...db import unique_violation
from ...errors import ApiError
from ...guard import current_principal
from ...policy import RESOURCE_SCOPES, TEAM_ROLES
from ...runtime import runtime
from ...utils import utcnow
from .. import endpoint, parse_body, parse_query, respond
from .team_bodies import (
    MemberIn,
    MemberOut,
    MemberPatchIn,
    PageQuery,
    TeamCreateIn,
    TeamDeletedOut,
    TeamOut,
    TeamPatchIn,
    TeamRoleIn,
    TeamRoleOut,
    exactly_one,
)

bp = Blueprint("teams", __name__, url_prefix="/api/v1")

# Naming an account by its id: ids run 1..N, so only a caller who may list every account
# anyway does so; everyone else gives the e-mail address they already know.
USERS_READ = "users:read"


def name_key(name: str) -> str:
    """Names that read the same are the same name: compatibility forms (full-width letters,
    ligatures) folded, case ignored. MariaDB's collations compare case-insensitively too."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def page_meta(query: PageQuery, total: int) -> dict[str, int]:
    return {"total": total, "page": query.page, "per_page": query.per_page}


def conflict(field: str, message: str) -> ApiError:
    return ApiError(409, "conflict", message, {"fields": {field: "already in use"}})


# -- teams ---------------------------------------------------------------------------------
def load_team(team_id: int) -> Any:
    dal = runtime().dal
    row = dal(dal.team.id == team_id).select(limitby=(0, 1)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no team with id {team_id}")
    return row


def _check_team_name_free(name: str, team_id: int | None = None) -> None:
    dal = runtime().dal
    key = name_key(name)
    for row in dal(dal.team).select(dal.team.id, dal.team.name):
        if row.id != team_id and name_key(row.name) == key:
            raise conflict("name", "a team with this name exists")


def _team_json(row: Any, members: int, my_role: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description or "",
        "created_at": row.created_at,
        "member_count": members,
        "my_role": my_role,
    }


def _counts_and_roles(team_ids: list[int], user_id: int) -> tuple[dict[int, int], dict[int, str]]:
    dal = runtime().dal
    tm = dal.team_member
    if not team_ids:
        return {}, {}
    count = tm.id.count()
    counts = {
        row.team_member.team_id: row[count]
        for row in dal(tm.team_id.belongs(team_ids)).select(tm.team_id, count, groupby=tm.team_id)
    }
    mine = {
        row.team_id: row.role
        for row in dal(tm.team_id.belongs(team_ids) & (tm.user_id == user_id)).select(
            tm.team_id, tm.role
        )
    }
    return counts, mine


def _audit_team(event: str, row: Any, details: dict[str, Any] | None = None) -> None:
    audit.record_caller_action(event, f"team:{row.id}", {"name": row.name, **(details or {})})


@endpoint(
    bp,
    "/teams",
    "GET",
    "List the teams you may see (paginated)",
    query=PageQuery,
    response=TeamOut,
    many=True,
)
def list_teams() -> Any:
    dal = runtime().dal
    principal = current_principal()
    query = parse_query(PageQuery)
    visible = access.visible_ids(principal, "team", "teams:read")
    condition = dal.team.id > 0
    if visible is not None:
        if not visible:
            return respond([], TeamOut, meta=page_meta(query, 0))
        condition = dal.team.id.belongs(sorted(visible))
    total = dal(condition).count()
    start = (query.page - 1) * query.per_page
    rows = dal(condition).select(orderby=dal.team.id, limitby=(start, start + query.per_page))
    counts, mine = _counts_and_roles([r.id for r in rows], principal.user.id)
    return respond(
        [_team_json(r, counts.get(r.id, 0), mine.get(r.id)) for r in rows],
        TeamOut,
        meta=page_meta(query, total),
    )


@endpoint(bp, "/teams", "POST", "Create a team", body=TeamCreateIn, response=TeamOut, status=201)
def create_team() -> Any:
    dal = runtime().dal
    payload = parse_body(TeamCreateIn)
    _check_team_name_free(payload.name)
    try:
        team_id = dal.team.insert(
            name=payload.name, description=payload.description, created_at=utcnow()
        )
    except Exception as error:
        if unique_violation(error):  # created at the same moment by another request
            raise conflict("name", "a team with this name exists") from None
        raise
    row = dal.team[team_id]
    access.invalidate()
    _audit_team("team_created", row, {"description": row.description or ""})
    return respond(_team_json(row, 0, None), TeamOut, status=201)


@endpoint(bp, "/teams/<int:team_id>", "GET", "A team", response=TeamOut)
def get_team(team_id: int) -> Any:
    row = load_team(team_id)
    counts, mine = _counts_and_roles([row.id], current_principal().user.id)
    return respond(_team_json(row, counts.get(row.id, 0), mine.get(row.id)), TeamOut)


@endpoint(
    bp, "/teams/<int:team_id>", "PATCH", "Rename or describe a team", body=TeamPatchIn,
    response=TeamOut,
)  # fmt: skip
def patch_team(team_id: int) -> Any:
    dal = runtime().dal
    payload = parse_body(TeamPatchIn)
    row = load_team(team_id)
    changes: dict[str, Any] = {}
    if payload.name is not None and payload.name != row.name:
        _check_team_name_free(payload.name, team_id)
        changes["name"] = payload.name
    if payload.description is not None and payload.description != (row.description or ""):
        changes["description"] = payload.description
    if changes:
        try:
            dal(dal.team.id == team_id).update(**changes)
        except Exception as error:
            if unique_violation(error):
                raise conflict("name", "a team with this name exists") from None
            raise
        _audit_team(
            "team_updated",
            dal.team[team_id],
            {"changes": sorted(changes), "previous_name": row.name},
        )
        row = dal.team[team_id]
    counts, mine = _counts_and_roles([row.id], current_principal().user.id)
    return respond(_team_json(row, counts.get(row.id, 0), mine.get(row.id)), TeamOut)


@endpoint(
    bp,
    "/teams/<int:team_id>",
    "DELETE",
    "Delete a team that owns no rule set or sensor (its memberships and grants go with it)",
    response=TeamDeletedOut,
    errors=((409, "the team still owns rule sets or sensors"),),
)
def delete_team(team_id: int) -> Any:
    dal = runtime().dal
    # the team's row locked before its counts: a rule set or sensor given to it meanwhile
    # waits for this deletion, or was written first and is counted (row_locks.py)
    row_locks.take(dal, "team", team_id)
    row = load_team(team_id)
    rulesets = dal(dal.packet_ruleset.team_id == team_id).count()
    sensors = dal(dal.sensor.team_id == team_id).count()
    if rulesets or sensors:
        raise ApiError(
            409,
            "team_in_use",
            "the team still owns rule sets or sensors: move or delete them first",
            {"rulesets": rulesets, "sensors": sensors},
        )
    grants = dal(dal.ruleset_grant.team_id == team_id).delete()
    members = dal(dal.team_member.team_id == team_id).delete()
    keys = dal(
        (dal.api_key.team_id == team_id) & (dal.api_key.revoked_at == None)  # noqa: E711
    ).update(revoked_at=utcnow())
    dal(dal.team.id == team_id).delete()
    if keys:
        runtime().datastore.changed()  # revoked keys stop working at once
    access.invalidate()
    outcome = {"members_removed": members, "grants_removed": grants, "apikeys_revoked": keys}
    _audit_team("team_deleted", row, outcome)
    return respond({"id": row.id, "name": row.name, **outcome}, TeamDeletedOut)


# -- members -------------------------------------------------------------------------------
def custom_team_roles() -> dict[str, frozenset[str]]:
    dal = runtime().dal
    tr = dal.team_role
    return {r.name: frozenset(r.scopes or ()) for r in dal(tr).select(tr.name, tr.scopes)}


def role_scopes(role: str) -> frozenset[str]:
    """A team role's scopes; 422 naming the field when there is no such team role."""
    if role in TEAM_ROLES:
        return frozenset(TEAM_ROLES[role][1])
    custom = custom_team_roles()
    # the custom role kept until the member holding it is written (a deletion waits)
    if role not in custom or not row_locks.keep_team_role(runtime().dal, role):
        message = f"no team role named {role!r}"
        raise ApiError(422, "validation_error", message, {"fields": {"role": message}})
    return custom[role] & frozenset(RESOURCE_SCOPES)


def check_may_hand_out(principal: Principal, team_id: int, scopes: frozenset[str]) -> None:
    """The caller holds every scope of a role on this team (given, changed or taken away)."""
    missing = sorted(scopes - access.effective_scopes(principal, "team", team_id))
    if missing:
        raise ApiError(
            403,
            "scope_escalation",
            "you cannot give or change a team role holding scopes you do not hold on this team",
            {"scopes": missing},
        )


def _member_row(team_id: int, user_id: int) -> Any:
    dal = runtime().dal
    tm = dal.team_member
    row = dal((tm.team_id == team_id) & (tm.user_id == user_id)).select(limitby=(0, 1)).first()
    if row is None:
        raise ApiError(404, "not_found", f"user {user_id} is not a member of team {team_id}")
    return row


def _member_json(row: Any, email: str, custom: dict[str, frozenset[str]]) -> dict[str, Any]:
    return {
        "team_id": row.team_id,
        "user_id": row.user_id,
        "email": email,
        "role": row.role,
        "scopes": sorted(access.team_role_scopes(row.role, custom)),
        "created_at": row.created_at,
    }


def _email_of(user_id: int) -> str | None:
    dal = runtime().dal
    user = dal(dal.auth_user.id == user_id).select(dal.auth_user.email, limitby=(0, 1)).first()
    return user.email if user else None


def find_account(principal: Principal, email: str | None, user_id: int | None) -> tuple[int, str]:
    """The account a member or a grant is for: (id, e-mail). By e-mail address (already
    normalised by the body: NFC, lower case), matched as log-in matches it; 404 for an
    address with no account, which tells a caller who already knows an address whether it
    has one (accepted: ids no longer give away every address). By id only with the global
    users:read scope, checked before the id is looked at, so walking ids 1..N tells nothing."""
    if email is not None:
        user = runtime().datastore.find_user(email=email)
        if user is None:
            raise ApiError(
                404,
                "not_found",
                "no account with this e-mail address",
                {"fields": {"email": "no account with this address"}},
            )
        return int(user.id), str(user.email)
    assert user_id is not None  # the body gives exactly one of the two
    if USERS_READ not in access.effective_scopes(principal, "team", None):
        raise ApiError(
            403,
            "insufficient_scope",
            f"adding an account by its id needs the global '{USERS_READ}' scope; give its"
            " e-mail address instead",
            {"required": USERS_READ, "fields": {"user_id": "give email instead"}},
        )
    found = _email_of(user_id)
    if found is None:
        raise ApiError(404, "not_found", f"no user with id {user_id}")
    return user_id, found


def _audit_member(event: str, team: Any, user_id: int, email: str, **details: Any) -> None:
    audit.record_caller_action(
        event,
        f"team:{team.id}",
        {"name": team.name, "user_id": user_id, "email": email, **details},
    )


@endpoint(
    bp,
    "/teams/<int:team_id>/members",
    "GET",
    "A team's members and their team roles (paginated)",
    query=PageQuery,
    response=MemberOut,
    many=True,
)
def list_members(team_id: int) -> Any:
    dal = runtime().dal
    query = parse_query(PageQuery)
    load_team(team_id)
    tm, users = dal.team_member, dal.auth_user
    condition = tm.team_id == team_id
    total = dal(condition).count()
    start = (query.page - 1) * query.per_page
    rows = dal(condition & (users.id == tm.user_id)).select(
        tm.ALL, users.email, orderby=tm.id, limitby=(start, start + query.per_page)
    )
    custom = custom_team_roles()
    return respond(
        [_member_json(r.team_member, r.auth_user.email, custom) for r in rows],
        MemberOut,
        meta=page_meta(query, total),
    )


@endpoint(
    bp,
    "/teams/<int:team_id>/members",
    "POST",
    "Add a member with a team role, by e-mail address (by user id: needs users:read)",
    body=MemberIn,
    response=MemberOut,
    status=201,
    errors=(
        (
            403,
            "the credential lacks the scope; scope_escalation: a role beyond your own on this"
            " team; insufficient_scope: a user id without the global users:read scope;"
            " feature_not_licensed: the licence does not turn on 'multi_tenancy'",
        ),
        (404, "no such team, or no account with this e-mail address"),
    ),
)
def add_member(team_id: int) -> Any:
    dal = runtime().dal
    principal = current_principal()
    payload = parse_body(MemberIn)
    exactly_one(payload, ("email", "user_id"))
    row_locks.keep(dal, "team", team_id)  # a deletion waits for this member, or goes first
    team = load_team(team_id)
    # Whether the caller may hand out this role comes before any account is looked up.
    scopes = role_scopes(payload.role)
    check_may_hand_out(principal, team_id, scopes)
    user_id, email = find_account(principal, payload.email, payload.user_id)
    field = "email" if payload.email is not None else "user_id"
    tm = dal.team_member
    try:  # the unique index (team_id, user_id) decides, also between two requests at once
        member_id = tm.insert(
            team_id=team_id, user_id=user_id, role=payload.role, created_at=utcnow()
        )
    except Exception as error:
        if unique_violation(error):
            raise conflict(field, "this user is already a member of the team") from None
        raise
    access.invalidate()
    _audit_member("team_member_added", team, user_id, email, role=payload.role)
    return respond(_member_json(tm[member_id], email, custom_team_roles()), MemberOut, status=201)


@endpoint(
    bp,
    "/teams/<int:team_id>/members/<int:user_id>",
    "PATCH",
    "Change a member's team role",
    body=MemberPatchIn,
    response=MemberOut,
)
def patch_member(team_id: int, user_id: int) -> Any:
    dal = runtime().dal
    principal = current_principal()
    payload = parse_body(MemberPatchIn)
    team = load_team(team_id)
    row = _member_row(team_id, user_id)
    new_scopes = role_scopes(payload.role)
    custom = custom_team_roles()
    check_may_hand_out(principal, team_id, access.team_role_scopes(row.role, custom) | new_scopes)
    if payload.role != row.role:
        dal(dal.team_member.id == row.id).update(role=payload.role)
        access.invalidate()
        _audit_member(
            "team_member_updated",
            team,
            user_id,
            _email_of(user_id) or "",
            role=payload.role,
            previous_role=row.role,
        )
    row = dal.team_member[row.id]
    return respond(_member_json(row, _email_of(user_id) or "", custom), MemberOut)


@endpoint(
    bp,
    "/teams/<int:team_id>/members/<int:user_id>",
    "DELETE",
    "Remove a member from a team",
    response=MemberOut,
)
def remove_member(team_id: int, user_id: int) -> Any:
    dal = runtime().dal
    principal = current_principal()
    team = load_team(team_id)
    row = _member_row(team_id, user_id)
    custom = custom_team_roles()
    check_may_hand_out(principal, team_id, access.team_role_scopes(row.role, custom))
    members = dal.team_member
    mine = (members.team_id == team_id) & (members.user_id == user_id)
    # Every row of this membership: two adds racing each other can both have written one
    # (nothing in the schema forbids it yet), and removing one must end the membership.
    for other in dal(mine & (members.id != row.id)).select(members.role):
        check_may_hand_out(principal, team_id, access.team_role_scopes(other.role, custom))
    dal(mine).delete()
    access.invalidate()
    email = _email_of(user_id) or ""
    _audit_member("team_member_removed", team, user_id, email, role=row.role)
    return respond(_member_json(row, email, custom), MemberOut)


# -- custom team roles ---------------------------------------------------------------------
def _builtin_role_json(name: str) -> dict[str, Any]:
    description, scopes = TEAM_ROLES[name]
    return {
        "id": None,
        "name": name,
        "description": description,
        "scopes": sorted(scopes),
        "builtin": True,
        "created_at": None,
    }


def _custom_role_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description or "",
        "scopes": sorted(row.scopes or ()),
        "builtin": False,
        "created_at": row.created_at,
    }


@endpoint(
    bp,
    "/team-roles",
    "GET",
    "The team roles: built-in and custom (paginated)",
    query=PageQuery,
    response=TeamRoleOut,
    many=True,
)
def list_team_roles() -> Any:
    dal = runtime().dal
    query = parse_query(PageQuery)
    roles = [_builtin_role_json(name) for name in TEAM_ROLES]
    roles += [_custom_role_json(r) for r in dal(dal.team_role).select(orderby=dal.team_role.id)]
    start = (query.page - 1) * query.per_page
    return respond(
        roles[start : start + query.per_page], TeamRoleOut, meta=page_meta(query, len(roles))
    )


@endpoint(
    bp,
    "/team-roles",
    "POST",
    "Create a custom team role (a subset of the resource scopes)",
    body=TeamRoleIn,
    response=TeamRoleOut,
    status=201,
)
def create_team_role() -> Any:
    dal = runtime().dal
    payload = parse_body(TeamRoleIn)
    scopes = set(payload.scopes)
    outside = sorted(scopes - set(RESOURCE_SCOPES))
    if outside or not scopes:
        message = (
            f"not a resource scope: {', '.join(outside)}" if outside else "give at least one scope"
        )
        raise ApiError(422, "validation_error", message, {"fields": {"scopes": message}})
    check_grantable(scopes, current_principal().scopes)
    key = name_key(payload.name)
    taken = {name_key(n) for n in TEAM_ROLES} | {"custom"}
    taken |= {name_key(r.name) for r in dal(dal.team_role).select(dal.team_role.name)}
    if key in taken:
        raise conflict("name", "a team role with this name exists")
    try:
        role_id = dal.team_role.insert(
            name=payload.name,
            description=payload.description,
            scopes=sorted(scopes),
            created_at=utcnow(),
        )
    except Exception as error:
        if unique_violation(error):
            raise conflict("name", "a team role with this name exists") from None
        raise
    row = dal.team_role[role_id]
    access.invalidate()
    audit.record_caller_action(
        "team_role_created", f"team-role:{row.id}", {"name": row.name, "scopes": sorted(scopes)}
    )
    return respond(_custom_role_json(row), TeamRoleOut, status=201)


@endpoint(
    bp,
    "/team-roles/<int:role_id>",
    "DELETE",
    "Delete a custom team role no member holds",
    response=TeamRoleOut,
    errors=((409, "members still hold this team role"),),
)
def delete_team_role(role_id: int) -> Any:
    dal = runtime().dal
    row_locks.take_team_role(dal, role_id)  # before counting its holders
    row = dal(dal.team_role.id == role_id).select(limitby=(0, 1)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no custom team role with id {role_id}")
    holders = dal(dal.team_member.role == row.name).count()
    if holders:
        raise ApiError(
            409,
            "team_role_in_use",
            "members still hold this team role: give them another one first",
            {"members": holders},
        )
    dal(dal.team_role.id == role_id).delete()
    access.invalidate()
    audit.record_caller_action(
        "team_role_deleted",
        f"team-role:{row.id}",
        {"name": row.name, "scopes": sorted(row.scopes or ())},
    )
    return respond(_custom_role_json(row), TeamRoleOut)
