"""Login, token refresh and logout; the access/refresh token answer and the refresh
cookie."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_security.utils import hash_password, verify_and_update_password, verify_password

from .... import audit
from ....accounts import ADMIN_ROLE, user_json
from ....errors import ApiError
from ....guard import current_principal
from ....models import User
from ....runtime import Runtime, runtime
from ....sso import LOGIN_PATH, break_glass_emails, sso_required
from ....utils import utcnow
from ... import endpoint, parse_body, respond
from ..bodies import LoginIn, LogoutIn, MessageOut, RefreshIn, TokenOut
from . import bp, client_ip, user_agent
from .two_factor import check_second_factor

REFRESH_COOKIE = "rookery_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
_dummy_hash: dict[str, str] = {}


def _burn_password_check(password: str) -> None:
    # An unknown address costs the same bcrypt work as a known one, so response time does
    # not reveal which addresses have accounts.
    if "hash" not in _dummy_hash:
        _dummy_hash["hash"] = hash_password("not-a-real-password")
    verify_password(password, _dummy_hash["hash"])


def issue_refresh_token(svc: Runtime, user: User, family: str | None) -> tuple[str, str]:
    """A new refresh token (and its session family): every sign-in, password or single
    sign-on, starts its session here."""
    return svc.refresh_tokens.issue(user.id, family, ip=client_ip(), user_agent=user_agent())


def set_refresh_cookie(svc: Runtime, response: Any, refresh_token: str) -> Any:
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=svc.settings.refresh_token_ttl,
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return response


def record_sign_in(svc: Runtime, user: User, ip: str) -> None:
    """The tracking fields of a successful sign-in (password or single sign-on)."""
    now = utcnow()
    user.last_login_at, user.current_login_at = user.current_login_at or now, now
    user.last_login_ip, user.current_login_ip = user.current_login_ip or ip, ip
    user.login_count = (user.login_count or 0) + 1
    svc.datastore.put(user)


def token_response(
    svc: Runtime,
    user: User,
    family: str | None,
    as_cookie: bool,
    status: int = 200,
    refresh_token: str | None = None,
) -> Any:
    if refresh_token is None or family is None:
        refresh_token, family = issue_refresh_token(svc, user, family)
    access_token, _ = svc.codec.issue(
        user.id, user.scopes, user.role_names, user.fs_uniquifier, family
    )
    body = {
        "access_token": access_token,
        "refresh_token": None if as_cookie else refresh_token,
        "token_type": "Bearer",
        "expires_in": svc.settings.access_token_ttl,
        "user": user_json(user),
    }
    response = respond(body, TokenOut, status=status)
    if as_cookie:
        set_refresh_cookie(svc, response, refresh_token)
    return response


def clear_refresh_cookie(response: Any) -> Any:
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, samesite="Strict"
    )
    return response


@endpoint(
    bp,
    "/login",
    "POST",
    "Log in with e-mail and password",
    body=LoginIn,
    response=TokenOut,
    errors=(
        (
            403,
            "account_inactive, a second factor is needed, or sso_required: password login is"
            " off (SSO_REQUIRED) for all but the break-glass admins",
        ),
    ),
)
def login() -> Any:
    svc = runtime()
    payload = parse_body(LoginIn)
    email = payload.email.strip().lower()
    ip = client_ip()
    wait = svc.login_throttle.check(email, ip)
    if wait:
        audit.record(svc.dal, "login_rate_limited", actor_email=email, ip=ip)
        svc.metrics.auth_events.labels("login_rate_limited").inc()
        raise ApiError(
            429,
            "rate_limited",
            f"too many login attempts; retry in {wait} s",
            {"retry_after": wait},
            headers={"Retry-After": str(wait)},
            keep_writes=True,
        )
    sso_only = sso_required(svc.settings)
    if sso_only and email not in break_glass_emails(svc.settings):
        _refuse_password_login(svc, email, ip)
    user = svc.datastore.find_user(email=email)
    if user is None or not user.password:
        # No password (an account made by single sign-on, a service account): the same
        # answer as a wrong password.
        _burn_password_check(payload.password)
        ok = False
    else:
        ok = verify_and_update_password(payload.password, user)
    if not ok:
        svc.login_throttle.failed(email, ip)
        _record_login_failure(svc, email, ip, user, "invalid_credentials")
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password", keep_writes=True)
    assert user is not None
    if not user.active:
        raise ApiError(403, "account_inactive", "this account is deactivated")
    if sso_only and ADMIN_ROLE not in user.role_names:
        # Listed as break-glass but not an admin: break-glass is for admins only.
        _refuse_password_login(svc, email, ip, user)
    check_second_factor(svc, user, payload.totp)
    svc.login_throttle.succeeded(email, ip)

    record_sign_in(svc, user, ip)
    audit.record(svc.dal, "login_succeeded", actor_id=user.id, actor_email=user.email, ip=ip)
    svc.metrics.auth_events.labels("login_succeeded").inc()
    response = token_response(svc, user, None, payload.refresh_cookie)
    stale_cookie = request.cookies.get(REFRESH_COOKIE)
    if stale_cookie and not payload.refresh_cookie:
        # A sign-in without "remember me" must not leave an earlier remembered session
        # in this browser: end that session and drop its cookie.
        family = svc.refresh_tokens.family_of(stale_cookie)
        if family:
            svc.refresh_tokens.revoke_family(family)
        clear_refresh_cookie(response)
    return response


def _record_login_failure(
    svc: Runtime, email: str, ip: str, user: User | None, reason: str
) -> None:
    audit.record(
        svc.dal,
        "login_failed",
        actor_id=user.id if user else None,
        actor_email=email,
        ip=ip,
        details={"reason": reason},
    )
    svc.metrics.auth_events.labels("login_failed").inc()


def _refuse_password_login(svc: Runtime, email: str, ip: str, user: User | None = None) -> None:
    _record_login_failure(svc, email, ip, user, "sso_required")
    raise ApiError(
        403,
        "sso_required",
        "password login is turned off: sign in with single sign-on",
        {"login_url": LOGIN_PATH},
        keep_writes=True,
    )


@endpoint(
    bp,
    "/refresh",
    "POST",
    "Exchange a refresh token (body or cookie) for new tokens",
    body=RefreshIn,
    response=TokenOut,
)
def refresh() -> Any:
    svc = runtime()
    payload = parse_body(RefreshIn)
    token = payload.refresh_token
    from_cookie = False
    if not token:
        token = request.cookies.get(REFRESH_COOKIE)
        from_cookie = token is not None
    if not token:
        raise ApiError(401, "invalid_refresh", "no refresh token given")
    outcome = svc.refresh_tokens.rotate(token, ip=client_ip(), user_agent=user_agent())
    if outcome.reused:
        audit.record(
            svc.dal,
            "refresh_reuse_detected",
            actor_id=outcome.user_id,
            ip=client_ip(),
            details={"family": outcome.family},
        )
        svc.metrics.auth_events.labels("refresh_reuse_detected").inc()
        raise ApiError(
            401,
            "invalid_refresh",
            "this refresh token was already used; its session is revoked",
            keep_writes=True,
        )
    user = svc.datastore.find_user(id=outcome.user_id) if outcome.user_id else None
    if user is None or not user.active:
        raise ApiError(401, "invalid_refresh", "the refresh token is not valid")
    svc.metrics.auth_events.labels("token_refreshed").inc()
    return token_response(svc, user, outcome.family, from_cookie, refresh_token=outcome.token)


@endpoint(
    bp, "/logout", "POST", "Revoke the session's refresh tokens", body=LogoutIn, response=MessageOut
)
def logout() -> Any:
    svc = runtime()
    principal = current_principal()
    payload = parse_body(LogoutIn)
    families = {principal.token_family}
    for token in (payload.refresh_token, request.cookies.get(REFRESH_COOKIE)):
        if token:
            families.add(svc.refresh_tokens.family_of(token))
    for family in families - {None}:
        svc.refresh_tokens.revoke_family(family)  # type: ignore[arg-type]
    audit.record(
        svc.dal,
        "logout",
        actor_id=principal.user.id,
        actor_email=principal.user.email,
        ip=client_ip(),
    )
    return clear_refresh_cookie(respond({"message": "logged out"}, MessageOut))
