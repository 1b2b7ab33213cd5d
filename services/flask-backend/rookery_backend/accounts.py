"""Account rules that several routes share: what a user looks like in JSON, who may grant
which roles, the last-admin guard, and the start-up seeding of roles and the admin."""

from __future__ import annotations

import logging
from typing import Any

from flask_security.utils import hash_password

from .datastore import PydalUserDatastore
from .errors import ApiError
from .models import Role, User
from .policy import BUILTIN_ROLES, SCOPES
from .utils import utcnow

log = logging.getLogger("rookery.startup")

ADMIN_ROLE = "admin"
# The built-in machine accounts flask-backend provisions at start-up, and what stops when
# one of them is switched off. They hold no password and are protected: deactivating,
# deleting, re-roling one or revoking its key needs an explicit force (audited).
SERVICE_ACCOUNT = "packet-publisher@rookery.internal"
SIBLING_ACCOUNT = "sibling-service@rookery.internal"
SERVICE_ACCOUNTS: dict[str, str] = {
    SERVICE_ACCOUNT: "rule publishing to packet-service and statistics",
    SIBLING_ACCOUNT: "sibling services' credential checks (packet-service authentication)",
}


def user_json(user: User) -> dict[str, Any]:
    return {
        "service_account": user.email in SERVICE_ACCOUNTS,
        "id": user.id,
        "email": user.email,
        "active": bool(user.active),
        "roles": user.role_names,
        "scopes": sorted(user.scopes),
        "tf_enabled": bool(user.tf_primary_method and user.tf_totp_secret),
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        "login_count": user.login_count or 0,
    }


def role_json(role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "description": role.description or "",
        "scopes": sorted(role.get_permissions()),
        "builtin": bool(role.builtin),
    }


def check_scopes_known(scopes: list[str], field: str = "scopes") -> None:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiError(
            422,
            "validation_error",
            f"unknown scope(s): {', '.join(unknown)}",
            {"fields": {field: f"unknown scope(s): {', '.join(unknown)}"}},
        )


def check_grantable(granted: set[str], holder_scopes: frozenset[str] | set[str]) -> None:
    """Nobody hands out a scope they do not hold themselves."""
    missing = sorted(granted - set(holder_scopes))
    if missing:
        raise ApiError(
            403,
            "scope_escalation",
            "you cannot grant scopes you do not hold",
            {"scopes": missing},
        )


def check_can_act_on(target: User, caller_scopes: frozenset[str] | set[str]) -> None:
    """Nobody changes the password, e-mail or status of an account that holds scopes the
    caller lacks: the helpdesk does not reset the admin's password."""
    missing = sorted(set(target.scopes) - set(caller_scopes))
    if missing:
        raise ApiError(
            403,
            "scope_escalation",
            "this account holds scopes you do not hold",
            {"scopes": missing},
        )


def guard_service_account(user_email: str, force: bool, what: str) -> bool:
    """Refuse `what` on the built-in service account unless forced. Returns True when the
    change goes through only because it was forced (the caller audits that)."""
    stops = SERVICE_ACCOUNTS.get(user_email)
    if stops is None:
        return False
    if not force:
        raise ApiError(
            409,
            "protected_account",
            f"{user_email} is a built-in service account; {what} stops {stops}."
            " Repeat with force=true to do it anyway.",
            {"account": user_email, "stops": stops, "force": "true"},
        )
    return True


def revoke_api_keys_of(svc: Any, user_id: int) -> int:
    """Revoke every live API key of a user; the number revoked."""
    dal = svc.dal
    table = dal.api_key
    revoked = dal((table.user_id == user_id) & (table.revoked_at == None)).update(  # noqa: E711
        revoked_at=utcnow()
    )
    svc.datastore.changed()  # cached principals of those keys must go at once
    return revoked


def resolve_roles(datastore: PydalUserDatastore, names: list[str]) -> list[Role]:
    roles: list[Role] = []
    missing: list[str] = []
    for name in dict.fromkeys(names):
        role = datastore.find_role(name)
        if role is None:
            missing.append(name)
        else:
            roles.append(role)
    if missing:
        raise ApiError(
            422,
            "validation_error",
            f"unknown role(s): {', '.join(missing)}",
            {"fields": {"roles": f"unknown role(s): {', '.join(missing)}"}},
        )
    return roles


def active_admin_ids(datastore: PydalUserDatastore) -> set[int]:
    dal = datastore.dal
    link, role, user = dal.auth_user_role, dal.auth_role, dal.auth_user
    rows = dal(
        (role.name == ADMIN_ROLE)
        & (link.role_id == role.id)
        & (link.user_id == user.id)
        & (user.active == True)  # noqa: E712
    ).select(user.id)
    return {row.id for row in rows}


def guard_last_admin(datastore: PydalUserDatastore, user: User, keeps_admin: bool) -> None:
    """Refuse a change that would leave no active admin."""
    if keeps_admin:
        return
    admins = active_admin_ids(datastore)
    if admins == {user.id}:
        raise ApiError(409, "last_admin", "this is the last active admin account")


DEFAULT_ADMIN_PASSWORD = "admin123"


class UnsafeDefaultAdmin(RuntimeError):
    """Production would create an admin with the published development password."""


def seed_roles_and_admin(
    datastore: PydalUserDatastore, email: str, password: str, production: bool = False
) -> bool:
    """Create the built-in roles (and keep their scopes current) and, when no admin exists,
    the default admin. Idempotent; returns True when the admin was created now."""
    for name, (description, scopes) in BUILTIN_ROLES.items():
        role = datastore.find_role(name)
        if role is None:
            datastore.create_role(
                name=name, description=description, permissions=scopes, builtin=True
            )
        elif sorted(role.get_permissions()) != sorted(scopes) or not role.builtin:
            role.permissions = scopes
            role.builtin = True
            datastore.put(role)
    if active_admin_ids(datastore):
        return False
    if production and password == DEFAULT_ADMIN_PASSWORD:
        raise UnsafeDefaultAdmin(
            "no admin exists and ADMIN_PASSWORD is the development default;"
            " set ADMIN_PASSWORD to create the first admin in production"
        )
    existing = datastore.find_user(email=email)
    if existing is not None:
        # The address exists without the admin role: grant it rather than fail start-up.
        datastore.add_role_to_user(existing, ADMIN_ROLE)
        existing.active = True
        datastore.put(existing)
    else:
        datastore.create_user(
            email=email, password=hash_password(password), roles=[ADMIN_ROLE], active=True
        )
    log.warning(
        "created the default admin account; change its password",
        extra={"email": email},
    )
    return True
