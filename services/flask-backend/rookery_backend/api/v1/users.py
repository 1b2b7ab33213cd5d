"""/api/v1/users: list, create, view, edit and delete accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask_security.utils import hash_password

from ... import audit
from ...accounts import (
    ADMIN_ROLE,
    SERVICE_ACCOUNTS,
    check_can_act_on,
    check_grantable,
    guard_last_admin,
    guard_service_account,
    resolve_roles,
    user_json,
)
from ...csv_export import EXPORT_MAX_ROWS, csv_response
from ...db import select_plain
from ...errors import ApiError
from ...guard import current_principal
from ...licensing import ensure_seat_available, takes_seat
from ...models import User
from ...policy import ROLE_ASSIGNMENT_SCOPE
from ...runtime import runtime
from ...user_listing import COLUMNS, listed_page
from .. import endpoint, parse_body, parse_query, respond
from .bodies import (
    ForceQuery,
    UserCreateIn,
    UserExportQuery,
    UserListQuery,
    UserOut,
    UserPatchIn,
)

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")


def _load(user_id: int) -> User:
    user = runtime().datastore.find_user(id=user_id)
    if user is None:
        raise ApiError(404, "not_found", f"no user with id {user_id}")
    return user


def _check_role_grant(role_names: list[str]) -> list[Any]:
    svc = runtime()
    principal = current_principal()
    if ROLE_ASSIGNMENT_SCOPE not in principal.scopes:
        raise ApiError(
            403,
            "insufficient_scope",
            f"assigning roles needs the '{ROLE_ASSIGNMENT_SCOPE}' scope",
            {"required": ROLE_ASSIGNMENT_SCOPE},
        )
    roles = resolve_roles(svc.datastore, role_names)
    granted: set[str] = set()
    for role in roles:
        granted |= role.get_permissions()
    check_grantable(granted, principal.scopes)
    return roles


@endpoint(
    bp,
    "",
    "GET",
    "List users (filter by status, role, text; paginated)",
    query=UserListQuery,
    response=UserOut,
    many=True,
)
def list_users() -> Any:
    svc = runtime()
    query = parse_query(UserListQuery)
    dal = svc.dal
    condition = _user_condition(dal, query)
    start = (query.page - 1) * query.per_page
    listed, total = listed_page(dal, condition, start, query.per_page)
    return respond(
        [_listed_json(row, _HeldRoles(names, scopes)) for row, names, scopes in listed],
        UserOut,
        meta={"total": total, "page": query.page, "per_page": query.per_page},
    )


def _user_condition(dal: Any, query: UserListQuery | UserExportQuery) -> Any:
    table = dal.auth_user
    condition = table.id > 0
    if query.status:
        condition &= table.active == (query.status == "active")
    if query.q:
        condition &= table.email.contains(query.q.strip().lower())
    if query.role:
        link, role = dal.auth_user_role, dal.auth_role
        members = dal((role.name == query.role) & (link.role_id == role.id))._select(link.user_id)
        condition &= table.id.belongs(members)
    return condition


USER_CSV_COLUMNS = (
    "id",
    "email",
    "active",
    "roles",
    "two_factor",
    "created_at",
    "last_login_at",
    "login_count",
)


@endpoint(
    bp,
    "/export",
    "GET",
    "The users the same filters select (status, role, text), as a CSV download",
    query=UserExportQuery,
    media_types=("text/csv",),
)
def export_users() -> Any:
    dal = runtime().dal
    query = parse_query(UserExportQuery)
    condition = _user_condition(dal, query)
    total = dal(condition).count()
    rows = _listed_rows(dal, condition, (0, EXPORT_MAX_ROWS))
    roles_by_user = _roles_for(dal, condition, [row["id"] for row in rows])
    lines = [
        [
            row["id"],
            row["email"],
            bool(row["active"]),
            " ".join(roles_by_user[row["id"]].names if row["id"] in roles_by_user else ()),
            bool(row["tf_primary_method"] and row["tf_totp_secret"]),
            row["created_at"],
            row["last_login_at"],
            row["login_count"] or 0,
        ]
        for row in rows
    ]
    return csv_response("rookery-users", USER_CSV_COLUMNS, lines, truncated=total > len(rows))


LISTED_COLUMNS = COLUMNS  # what a listing reads (no password hashes)


@dataclass(slots=True)
class _HeldRoles:
    names: list[str]
    scopes: set[str]


def _listed_rows(dal: Any, condition: Any, limitby: tuple[int, int]) -> list[dict[str, Any]]:
    """Only the columns a listing shows (no password hashes read), as plain values."""
    table = dal.auth_user
    rows = select_plain(
        dal, condition, [table[name] for name in LISTED_COLUMNS], orderby=table.id, limitby=limitby
    )
    return [dict(zip(LISTED_COLUMNS, row, strict=True)) for row in rows]


def _roles_for(dal: Any, condition: Any, user_ids: list[int]) -> dict[int, _HeldRoles]:
    """The role names (sorted) and scopes of listed users, in one query.

    `user_ids` are consecutive rows (by id) of what `condition` selects, so the users that
    `condition` selects with an id from the first to the last of them are exactly those:
    a range instead of an IN list of every id, which PyDAL would render value by value."""
    if not user_ids:
        return {}
    user, link, role = dal.auth_user, dal.auth_user_role, dal.auth_role
    rows = select_plain(
        dal,
        condition
        & (user.id >= user_ids[0])
        & (user.id <= user_ids[-1])
        & (link.user_id == user.id)
        & (role.id == link.role_id),
        [link.user_id, role.name, role.permissions],
    )
    result: dict[int, _HeldRoles] = {}
    for user_id, name, permissions in rows:
        held = result.get(user_id)
        if held is None:
            held = result[user_id] = _HeldRoles([], set())
        held.names.append(name)
        held.scopes.update(permissions or ())
    for held in result.values():
        held.names.sort()  # as User.role_names: Python's order, not the database collation
    return result


def _listed_json(row: dict[str, Any], roles: _HeldRoles | None) -> dict[str, Any]:
    """accounts.user_json for a listed row (tests compare the two for every user)."""
    return {
        "service_account": row["email"] in SERVICE_ACCOUNTS,
        "id": row["id"],
        "email": row["email"],
        "active": bool(row["active"]),
        "roles": roles.names if roles else [],
        "scopes": sorted(roles.scopes) if roles else [],
        "tf_enabled": bool(row["tf_primary_method"] and row["tf_totp_secret"]),
        "created_at": row["created_at"],
        "last_login_at": row["last_login_at"],
        "login_count": row["login_count"] or 0,
    }


@endpoint(bp, "", "POST", "Create a user", body=UserCreateIn, response=UserOut, status=201)
def create_user() -> Any:
    svc = runtime()
    payload = parse_body(UserCreateIn)
    email = str(payload.email).lower()
    roles = _check_role_grant(payload.roles) if payload.roles else []
    if svc.datastore.find_user(email=email) is not None:
        raise ApiError(
            409,
            "conflict",
            "a user with this e-mail exists",
            {"fields": {"email": "already in use"}},
        )
    if payload.active:
        ensure_seat_available()  # 409 seat_limit_reached past the licence's seats
    user = svc.datastore.create_user(
        email=email,
        password=hash_password(payload.password),
        roles=roles,
        active=payload.active,
    )
    audit.record_caller_action(
        "user_created", f"user:{user.id}", {"email": email, "roles": user.role_names}
    )
    return respond(user_json(user), UserOut, status=201)


@endpoint(bp, "/<int:user_id>", "GET", "View a user", response=UserOut)
def get_user(user_id: int) -> Any:
    return respond(user_json(_load(user_id)), UserOut)


@endpoint(
    bp,
    "/<int:user_id>",
    "PATCH",
    "Edit another user (email, password, roles, active); needs every scope they hold",
    body=UserPatchIn,
    response=UserOut,
)
def patch_user(user_id: int) -> Any:
    svc = runtime()
    principal = current_principal()
    payload = parse_body(UserPatchIn)
    user = _load(user_id)
    changed: list[str] = []
    forced: list[str] = []
    activation: str | None = None  # user_activated / user_deactivated: its own audit line
    is_self = user.id == principal.user.id
    if is_self and (payload.password is not None or payload.email is not None):
        raise ApiError(
            403,
            "forbidden",
            "change your own password or e-mail under /auth/password and /auth/me"
            " (they ask for your current password)",
        )
    touches_account = payload.password is not None or (
        payload.email is not None and str(payload.email).lower() != user.email
    )
    if payload.active is not None and payload.active != bool(user.active):
        touches_account = True
    if payload.password is not None and principal.kind != "user":
        raise ApiError(
            403,
            "session_required",
            "setting another user's password needs a signed-in user session, not an API key",
            {"credential": principal.kind},
        )
    if touches_account:
        check_can_act_on(user, principal.scopes)
        # One seat more when this makes an active person of it (switched on, or a service
        # account given a password or a person's address): 409 seat_limit_reached.
        has_password = user.password is not None
        if not takes_seat(user.email, has_password, bool(user.active)) and takes_seat(
            str(payload.email).lower() if payload.email is not None else user.email,
            has_password or payload.password is not None,
            payload.active if payload.active is not None else bool(user.active),
        ):
            ensure_seat_available()
    if payload.roles is not None and sorted(set(payload.roles)) != user.role_names:
        if is_self:
            raise ApiError(403, "forbidden", "you cannot change your own roles")
        roles = _check_role_grant(payload.roles)
        # Taking a role away also needs its scopes: no demoting someone above you.
        removed: set[str] = set()
        for role in user.roles:
            if role.name not in payload.roles:
                removed |= role.get_permissions()
        check_grantable(removed, principal.scopes)
        guard_last_admin(svc.datastore, user, keeps_admin=ADMIN_ROLE in payload.roles)
        if guard_service_account(user.email, payload.force, "changing its roles"):
            forced.append("roles")
        user.roles = roles
        changed.append("roles")
    if payload.active is not None and payload.active != bool(user.active):
        if is_self:
            raise ApiError(403, "forbidden", "you cannot deactivate yourself")
        guard_last_admin(svc.datastore, user, keeps_admin=payload.active)
        if not payload.active and guard_service_account(
            user.email, payload.force, "deactivating it"
        ):
            forced.append("active")
        user.active = payload.active
        activation = "user_activated" if payload.active else "user_deactivated"
    if payload.email is not None and str(payload.email).lower() != user.email:
        email = str(payload.email).lower()
        if svc.datastore.find_user(email=email) is not None:
            raise ApiError(
                409,
                "conflict",
                "a user with this e-mail exists",
                {"fields": {"email": "already in use"}},
            )
        user.email = email
        changed.append("email")
    if payload.password is not None:
        user.password = hash_password(payload.password)
        svc.datastore.set_uniquifier(user)  # existing tokens of that user stop working
        sessions = svc.refresh_tokens.revoke_user(user.id)
        changed.append("password")
        # An administrator choosing someone's password is a reset by another person:
        # its own audit line, apart from ordinary edits.
        audit.record_caller_action(
            "password_reset_by_admin", f"user:{user.id}", {"sessions_revoked": sessions}
        )
    if changed or activation:
        svc.datastore.put(user)
    if activation:
        activation_details: dict[str, Any] = {"email": user.email}
        if "active" in forced:
            activation_details["forced"] = True
        audit.record_caller_action(activation, f"user:{user.id}", activation_details)
    if changed:
        details: dict[str, Any] = {"fields": changed, "roles": user.role_names}
        if "roles" in forced:
            details["forced"] = ["roles"]
        audit.record_caller_action("user_updated", f"user:{user.id}", details)
    return respond(user_json(user), UserOut)


@endpoint(
    bp,
    "/<int:user_id>",
    "DELETE",
    "Delete a user (needs every scope they hold)",
    query=ForceQuery,
    response=UserOut,
)
def delete_user(user_id: int) -> Any:
    svc = runtime()
    principal = current_principal()
    query = parse_query(ForceQuery)
    user = _load(user_id)
    if user.id == principal.user.id:
        raise ApiError(403, "forbidden", "you cannot delete yourself")
    check_can_act_on(user, principal.scopes)
    guard_last_admin(svc.datastore, user, keeps_admin=False)
    forced = guard_service_account(user.email, query.force, "deleting it")
    snapshot = user_json(user)
    dal = svc.dal
    dal(dal.api_key.user_id == user.id).delete()
    dal(dal.refresh_token.user_id == user.id).delete()
    svc.datastore.delete_user(user)
    details: dict[str, Any] = {"email": user.email}
    if forced:
        details["forced"] = True
    audit.record_caller_action("user_deleted", f"user:{user.id}", details)
    return respond(snapshot, UserOut)
