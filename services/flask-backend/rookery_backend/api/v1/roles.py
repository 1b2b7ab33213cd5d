"""/api/v1/roles and /api/v1/scopes: roles built from the scope catalogue."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ... import audit
from ...accounts import check_grantable, check_scopes_known, role_json
from ...errors import ApiError
from ...guard import current_principal
from ...models import Role
from ...policy import SCOPES
from ...runtime import runtime
from .. import endpoint, parse_body, respond
from .bodies import RoleCreateIn, RoleOut, RolePatchIn, ScopeOut

bp = Blueprint("roles", __name__, url_prefix="/api/v1")


def _load(role_id: int) -> Role:
    dal = runtime().dal
    row = dal(dal.auth_role.id == role_id).select(limitby=(0, 1)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no role with id {role_id}")
    return Role.from_row(row)


def _audit(event: str, role: Role, details: dict[str, Any]) -> None:
    audit.record_caller_action(event, f"role:{role.name}", details)


@endpoint(bp, "/roles", "GET", "List roles", response=RoleOut, many=True)
def list_roles() -> Any:
    dal = runtime().dal
    rows = dal(dal.auth_role).select(orderby=dal.auth_role.id)
    return respond([role_json(Role.from_row(r)) for r in rows], RoleOut)


@endpoint(
    bp, "/roles", "POST", "Create a custom role", body=RoleCreateIn, response=RoleOut, status=201
)
def create_role() -> Any:
    svc = runtime()
    payload = parse_body(RoleCreateIn)
    check_scopes_known(payload.scopes)
    check_grantable(set(payload.scopes), current_principal().scopes)
    if svc.datastore.find_role(payload.name) is not None:
        raise ApiError(
            409, "conflict", "a role with this name exists", {"fields": {"name": "already in use"}}
        )
    role = svc.datastore.create_role(
        name=payload.name,
        description=payload.description,
        permissions=sorted(set(payload.scopes)),
        builtin=False,
    )
    _audit("role_created", role, {"scopes": sorted(role.get_permissions())})
    return respond(role_json(role), RoleOut, status=201)


@endpoint(
    bp,
    "/roles/<int:role_id>",
    "PATCH",
    "Edit a role (built-in roles: description only)",
    body=RolePatchIn,
    response=RoleOut,
)
def patch_role(role_id: int) -> Any:
    svc = runtime()
    payload = parse_body(RolePatchIn)
    role = _load(role_id)
    if role.builtin and (payload.name not in (None, role.name) or payload.scopes is not None):
        raise ApiError(409, "builtin_role", "built-in roles keep their name and scopes")
    if payload.name is not None and payload.name != role.name:
        if svc.datastore.find_role(payload.name) is not None:
            raise ApiError(
                409,
                "conflict",
                "a role with this name exists",
                {"fields": {"name": "already in use"}},
            )
        role.name = payload.name
    if payload.scopes is not None:
        check_scopes_known(payload.scopes)
        changed = set(payload.scopes) ^ role.get_permissions()
        check_grantable(changed, current_principal().scopes)
        role.permissions = sorted(set(payload.scopes))
    if payload.description is not None:
        role.description = payload.description
    svc.datastore.put(role)
    _audit("role_updated", role, {"scopes": sorted(role.get_permissions())})
    return respond(role_json(role), RoleOut)


@endpoint(bp, "/roles/<int:role_id>", "DELETE", "Delete a custom role", response=RoleOut)
def delete_role(role_id: int) -> Any:
    svc = runtime()
    role = _load(role_id)
    if role.builtin:
        raise ApiError(409, "builtin_role", "built-in roles cannot be deleted")
    check_grantable(role.get_permissions(), current_principal().scopes)
    snapshot = role_json(role)
    svc.datastore.delete(role)
    _audit("role_deleted", role, {})
    return respond(snapshot, RoleOut)


@endpoint(bp, "/scopes", "GET", "The scope catalogue", response=ScopeOut, many=True)
def list_scopes() -> Any:
    return respond([{"name": n, "description": d} for n, d in SCOPES.items()], ScopeOut)
