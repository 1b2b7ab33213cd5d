"""OpenID Connect single sign-on: whether it is on, the redirect to the provider and the
provider's callback, which ends in the same session a password login starts (the refresh
cookie from tokens.py) or at /login?sso_error=<code>. docs/SSO.md tells the whole story."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from flask import current_app, redirect, request
from pydantic import BaseModel

from .... import audit
from ....accounts import ADMIN_ROLE, SERVICE_ACCOUNTS, active_admin_ids, resolve_roles
from ....errors import ApiError
from ....licensing import ensure_seat_available
from ....models import User
from ....runtime import Runtime, runtime
from ....sso import (
    LOGIN_PATH,
    PENDING_COOKIE,
    PENDING_COOKIE_PATH,
    PENDING_TTL,
    Identity,
    SsoError,
    client_of,
    mapped_roles,
    safe_next,
    sso_enabled,
    sso_required,
)
from ... import endpoint, respond
from . import bp, client_ip
from .tokens import issue_refresh_token, record_sign_in, set_refresh_cookie

log = logging.getLogger("rookery.sso")


class SsoInfoOut(BaseModel):
    enabled: bool
    provider_name: str
    login_url: str
    required: bool


@endpoint(
    bp, "/sso", "GET", "Whether single sign-on is on, and where it starts", response=SsoInfoOut
)
def sso_info() -> Any:
    settings = runtime().settings
    return respond(
        {
            "enabled": sso_enabled(settings),
            "provider_name": settings.oidc_provider_name,
            "login_url": LOGIN_PATH,
            "required": sso_required(settings),
        },
        SsoInfoOut,
    )


def _public(path: str) -> str:
    return runtime().settings.public_url.rstrip("/") + path


def _failed(svc: Runtime, error: SsoError) -> Any:
    log.warning("single sign-on refused", extra={"code": error.code, "reason": error.reason})
    audit.record(
        svc.dal,
        "login_sso_failed",
        actor_email=error.email,
        ip=client_ip(),
        details={"code": error.code, "reason": error.reason[:500]},
    )
    svc.metrics.auth_events.labels("login_sso_failed").inc()
    response = redirect(_public(f"/login?sso_error={quote(error.code)}"), 302)
    return _clear_pending(response)


def _clear_pending(response: Any) -> Any:
    response.delete_cookie(PENDING_COOKIE, path=PENDING_COOKIE_PATH, httponly=True, samesite="Lax")
    return response


@endpoint(
    bp,
    "/sso/login",
    "GET",
    "Start single sign-on (?next=/path to return to): 302 to the OpenID Provider (code flow,"
    " PKCE S256, state, nonce)",
    status=302,
    envelope=False,
    media_types=("text/html",),
)
def sso_login() -> Any:
    svc = runtime()
    if not sso_enabled(svc.settings):
        return _failed(svc, SsoError("sso_disabled", "single sign-on is not enabled"))
    try:
        url, pending = client_of(current_app).start(safe_next(request.args.get("next")))
    except SsoError as error:
        return _failed(svc, error)
    response = redirect(url, 302)
    response.set_cookie(
        PENDING_COOKIE,
        pending,
        max_age=PENDING_TTL,
        path=PENDING_COOKIE_PATH,
        httponly=True,
        samesite="Lax",  # sent on the provider's top-level redirect back to the callback
        secure=request.is_secure,
    )
    return response


@endpoint(
    bp,
    "/sso/callback",
    "GET",
    "The OpenID Provider's answer: sets the refresh cookie and 302s to the web UI, or 302s"
    " to /login?sso_error=<code>",
    status=302,
    envelope=False,
    media_types=("text/html",),
)
def sso_callback() -> Any:
    svc = runtime()
    if not sso_enabled(svc.settings):
        return _failed(svc, SsoError("sso_disabled", "single sign-on is not enabled"))
    client = client_of(current_app)
    try:
        pending = client.pending(request.cookies.get(PENDING_COOKIE))
        args = {k: request.args.get(k) for k in ("state", "code", "error", "iss")}
        identity = client.finish(pending, args)
        _one_transaction(svc)
        user, created = _account_for(svc, identity)
    except SsoError as error:
        return _failed(svc, error)
    ip = client_ip()
    record_sign_in(svc, user, ip)
    audit.record(
        svc.dal,
        "login_sso",
        actor_id=user.id,
        actor_email=user.email,
        ip=ip,
        details={
            "issuer": client.issuer,
            "subject": identity.subject[:255],
            "created": created,
            "roles": user.role_names,
        },
    )
    svc.metrics.auth_events.labels("login_sso").inc()
    refresh_token, _ = issue_refresh_token(svc, user, None)
    response = redirect(_public(pending.next), 302)
    set_refresh_cookie(svc, response, refresh_token)
    return _clear_pending(response)


def _one_transaction(svc: Runtime) -> None:
    """A GET reads in autocommit on PostgreSQL (db.py); this one writes the account, its
    roles, the audit rows and the session, which must land together or not at all. The
    request's end commits (or rolls back) as for any other method; the connection's next
    GET switches it back."""
    if svc.settings.db_type != "postgresql":
        return
    connection = getattr(svc.dal._adapter, "connection", None)
    if connection is not None and connection.autocommit:
        connection.autocommit = False


def _account_for(svc: Runtime, identity: Identity) -> tuple[User, bool]:
    """The account a verified identity signs in to (made now when JIT allows), with its
    roles set from the claim mapping. Raises SsoError; writes nothing before deciding."""
    settings = svc.settings
    email = identity.email
    if not email:
        raise SsoError("email_unverified", "the provider gave no e-mail address")
    if not identity.email_verified:
        raise SsoError("email_unverified", "the provider has not verified the address", email)
    if email in SERVICE_ACCOUNTS:
        raise SsoError("access_denied", "a built-in service account never signs on", email)
    names = mapped_roles(identity, settings)
    roles = [r for r in names if svc.datastore.find_role(r) is not None]
    if len(roles) != len(names):
        log.warning(
            "OIDC_ROLE_MAP names roles that do not exist",
            extra={"missing": sorted(set(names) - set(roles))},
        )
    if not roles:
        raise SsoError(
            "no_role",
            f"no role maps from {settings.oidc_role_claim}={list(identity.role_values)[:20]}",
            email,
        )
    user = svc.datastore.find_user(email=email)
    if user is None:
        if not settings.oidc_jit:
            raise SsoError("access_denied", "no account has this address (OIDC_JIT=false)", email)
        _ensure_seat(email)
        user = svc.datastore.create_user(
            email=email, password=None, roles=resolve_roles(svc.datastore, roles), active=True
        )
        audit.record(
            svc.dal,
            "user_created",
            actor_id=user.id,
            actor_email=email,
            target=f"user:{user.id}",
            ip=client_ip(),
            details={"roles": roles, "by": "sso"},
        )
        return user, True
    if not user.active:
        raise SsoError("access_denied", "this account is deactivated", email)
    if sorted(roles) != sorted(user.role_names):
        if (
            ADMIN_ROLE in user.role_names
            and ADMIN_ROLE not in roles
            and active_admin_ids(svc.datastore) == {user.id}
        ):
            # The provider's groups would leave no admin at all: keep this one.
            roles = [*roles, ADMIN_ROLE]
        if sorted(roles) != sorted(user.role_names):
            before = user.role_names
            user.roles = resolve_roles(svc.datastore, roles)
            svc.datastore.put(user)
            audit.record(
                svc.dal,
                "user_updated",
                actor_id=user.id,
                actor_email=email,
                target=f"user:{user.id}",
                ip=client_ip(),
                details={"changed": ["roles"], "roles": {"from": before, "to": roles}, "by": "sso"},
            )
            user = svc.datastore.find_user(id=user.id) or user
    return user, False


def _ensure_seat(email: str) -> None:
    try:
        ensure_seat_available()
    except ApiError as error:
        if error.code == "seat_limit_reached":
            raise SsoError("seat_limit_reached", error.message, email) from error
        raise
