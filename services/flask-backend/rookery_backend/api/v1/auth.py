"""/api/v1/auth: login, token refresh and logout, the caller's own account, password
recovery and TOTP two-factor. Account mechanics (bcrypt hashing, tracking fields, password
change and reset tokens, TOTP) are Flask-Security-Too's; tokens are Rookery's."""

from __future__ import annotations

import hmac
import threading
from typing import Any

from flask import Blueprint, current_app, request
from flask_security.changeable import change_user_password
from flask_security.recoverable import (
    generate_reset_password_token,
    reset_password_token_status,
    update_password,
)
from flask_security.utils import hash_password, verify_and_update_password, verify_password
from passlib.exc import TokenError, UsedTokenError

from ... import audit
from ...accounts import revoke_api_keys_of, user_json
from ...errors import ApiError
from ...guard import current_principal
from ...models import User
from ...runtime import Runtime, runtime
from ...utils import sha256_hex, utcnow
from .. import endpoint, parse_body, respond
from .schemas import (
    ForgotIn,
    ForgotOut,
    LoginIn,
    LogoutIn,
    MePatchIn,
    MessageOut,
    PasswordChangeIn,
    RecoveryCodesOut,
    RefreshIn,
    ResetIn,
    ResetOut,
    SessionOut,
    SessionsEndedOut,
    TokenOut,
    TwoFactorConfirmIn,
    TwoFactorDisableIn,
    TwoFactorSetupIn,
    TwoFactorSetupOut,
    UserOut,
)

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

REFRESH_COOKIE = "rookery_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
TOTP_METHOD = "authenticator"
RECOVERY_CODE_COUNT = 10
_dummy_hash: dict[str, str] = {}


def client_ip() -> str:
    return request.remote_addr or "unknown"


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:255]


def _notify(svc: Runtime, recipient: str, subject: str, body: str) -> None:
    """Mail a notice off the request thread (logged instead where no server is set up)."""
    if svc.mailer.configured:
        threading.Thread(
            target=svc.mailer.send, args=(recipient, subject, body), daemon=True
        ).start()
    elif not svc.settings.production:
        svc.mailer.send(recipient, subject, body)


def _burn_password_check(password: str) -> None:
    # An unknown address costs the same bcrypt work as a known one, so response time does
    # not reveal which addresses have accounts.
    if "hash" not in _dummy_hash:
        _dummy_hash["hash"] = hash_password("not-a-real-password")
    verify_password(password, _dummy_hash["hash"])


def _token_response(
    svc: Runtime,
    user: User,
    family: str | None,
    as_cookie: bool,
    status: int = 200,
    refresh_token: str | None = None,
) -> Any:
    if refresh_token is None or family is None:
        refresh_token, family = svc.refresh_tokens.issue(
            user.id, family, ip=client_ip(), user_agent=user_agent()
        )
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


def _clear_cookie(response: Any) -> Any:
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, httponly=True, samesite="Strict"
    )
    return response


def _tf_enabled(user: User) -> bool:
    return bool(user.tf_primary_method and user.tf_totp_secret)


def _check_second_factor(svc: Runtime, user: User, code: str | None) -> None:
    if not _tf_enabled(user):
        return
    if not code:
        raise ApiError(401, "totp_required", "enter the code from your authenticator app")
    code = code.strip()
    factory = current_app.extensions["security"].totp_factory
    if code.isdigit():
        if factory.verify_totp(code, user.tf_totp_secret, user, window=30):
            return
        if _totp_already_used(factory, code, user):
            raise ApiError(
                401,
                "totp_reused",
                "this code was already used; wait for the next code of your authenticator",
                keep_writes=True,
            )
    # A recovery code works once.
    hashed = sha256_hex(code.lower())
    codes = list(user.mf_recovery_codes or [])
    for index, stored in enumerate(codes):
        if hmac.compare_digest(stored, hashed):
            codes.pop(index)
            svc.datastore.mf_set_recovery_codes(user, codes or None)
            return
    audit.record(
        svc.dal,
        "login_failed",
        actor_id=user.id,
        actor_email=user.email,
        ip=client_ip(),
        details={"reason": "invalid_totp"},
    )
    svc.metrics.auth_events.labels("login_failed").inc()
    raise ApiError(401, "invalid_totp", "the code is not valid", keep_writes=True)


def _totp_already_used(factory: Any, code: str, user: User) -> bool:
    """True when `code` is right for the current window but was spent before (the replay
    guard refused it): the user should wait for the next code, not doubt theirs. Asks
    passlib (FST's TOTP engine) directly, as FST's verify_totp folds that case into False."""
    try:
        factory._totp.verify(
            code, user.tf_totp_secret, window=30, last_counter=user.tf_totp_last_counter
        )
    except UsedTokenError:
        return True
    except (TokenError, ValueError):
        return False
    return False


def _reauthenticate(svc: Runtime, user: User, password: str | None, totp: str | None) -> None:
    """The account's owner proves presence: the current password, or with two-factor on,
    a fresh authenticator code instead."""
    if password:
        if user.password and verify_password(password, user.password):
            return
        raise ApiError(
            400,
            "invalid_password",
            "the current password is wrong",
            {"fields": {"current_password": "wrong password"}},
        )
    if totp and _tf_enabled(user):
        factory = current_app.extensions["security"].totp_factory
        if totp.strip().isdigit() and factory.verify_totp(
            totp.strip(), user.tf_totp_secret, user, window=30
        ):
            return
        raise ApiError(
            400, "invalid_totp", "the code is not valid", {"fields": {"totp": "wrong code"}}
        )
    raise ApiError(
        422,
        "reauthentication_required",
        "confirm with your current password"
        + (" or an authenticator code" if _tf_enabled(user) else ""),
        {"fields": {"current_password": "required"}},
    )


@endpoint(bp, "/login", "POST", "Log in with e-mail and password", body=LoginIn, response=TokenOut)
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
    user = svc.datastore.find_user(email=email)
    if user is None or not user.password:
        _burn_password_check(payload.password)
        ok = False
    else:
        ok = verify_and_update_password(payload.password, user)
    if not ok:
        svc.login_throttle.failed(email, ip)
        audit.record(
            svc.dal,
            "login_failed",
            actor_id=user.id if user else None,
            actor_email=email,
            ip=ip,
            details={"reason": "invalid_credentials"},
        )
        svc.metrics.auth_events.labels("login_failed").inc()
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password", keep_writes=True)
    assert user is not None
    if not user.active:
        raise ApiError(403, "account_inactive", "this account is deactivated")
    _check_second_factor(svc, user, payload.totp)
    svc.login_throttle.succeeded(email, ip)

    now = utcnow()
    user.last_login_at, user.current_login_at = user.current_login_at or now, now
    user.last_login_ip, user.current_login_ip = user.current_login_ip or ip, ip
    user.login_count = (user.login_count or 0) + 1
    svc.datastore.put(user)
    audit.record(svc.dal, "login_succeeded", actor_id=user.id, actor_email=user.email, ip=ip)
    svc.metrics.auth_events.labels("login_succeeded").inc()
    response = _token_response(svc, user, None, payload.refresh_cookie)
    stale_cookie = request.cookies.get(REFRESH_COOKIE)
    if stale_cookie and not payload.refresh_cookie:
        # A sign-in without "remember me" must not leave an earlier remembered session
        # in this browser: end that session and drop its cookie.
        family = svc.refresh_tokens.family_of(stale_cookie)
        if family:
            svc.refresh_tokens.revoke_family(family)
        _clear_cookie(response)
    return response


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
    return _token_response(svc, user, outcome.family, from_cookie, refresh_token=outcome.token)


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
    return _clear_cookie(respond({"message": "logged out"}, MessageOut))


@endpoint(bp, "/me", "GET", "The caller's account", response=UserOut)
def me() -> Any:
    return respond(user_json(current_principal().user), UserOut)


@endpoint(
    bp,
    "/me",
    "PATCH",
    "Change the caller's e-mail (needs the current password; the old address is told)",
    body=MePatchIn,
    response=UserOut,
)
def patch_me() -> Any:
    svc = runtime()
    principal = current_principal()
    raw = request.get_json(silent=True)
    if isinstance(raw, dict):
        forbidden = sorted(set(raw) & {"roles", "active", "scopes", "password", "id"})
        if forbidden:
            raise ApiError(
                403,
                "forbidden",
                "you cannot change these fields of your own account here",
                {"fields": forbidden},
            )
    payload = parse_body(MePatchIn)
    user = principal.user
    if payload.email is not None and str(payload.email).lower() != user.email:
        email = str(payload.email).lower()
        _reauthenticate(svc, user, payload.current_password, payload.totp)
        other = svc.datastore.find_user(email=email)
        if other is not None and other.id != user.id:
            raise ApiError(
                409,
                "conflict",
                "that e-mail address is taken",
                {"fields": {"email": "already in use"}},
            )
        old_email = user.email
        user.email = email
        svc.datastore.put(user)
        audit.record(
            svc.dal,
            "email_changed",
            actor_id=user.id,
            actor_email=email,
            target=f"user:{user.id}",
            ip=client_ip(),
            details={"fields": ["email"], "from": old_email, "to": email},
        )
        _notify(
            svc,
            old_email,
            "Rookery: your sign-in address was changed",
            f"The sign-in address of your Rookery account was changed from {old_email}"
            f" to {email} (from {client_ip()}).\n\nIf it was not you, tell an"
            " administrator at once: they can restore the address and end every session.\n",
        )
    return respond(user_json(user), UserOut)


@endpoint(
    bp,
    "/password",
    "POST",
    "Change the caller's password (returns fresh tokens)",
    body=PasswordChangeIn,
    response=TokenOut,
)
def change_password() -> Any:
    svc = runtime()
    principal = current_principal()
    payload = parse_body(PasswordChangeIn)
    user = principal.user
    if principal.kind != "user":
        raise ApiError(403, "forbidden", "API keys cannot change passwords")
    if not user.password or not verify_password(payload.current_password, user.password):
        raise ApiError(
            400,
            "invalid_password",
            "the current password is wrong",
            {"fields": {"current_password": "wrong password"}},
        )
    # FST hashes the new password and rotates the uniquifier: every access token issued
    # before stops working. Every other session's refresh tokens are revoked; this session
    # continues, with the tokens returned here or by refreshing as usual.
    change_user_password(user, payload.new_password, notify=False, autologin=False)
    svc.refresh_tokens.revoke_user(user.id, keep_family=principal.token_family)
    audit.record(
        svc.dal,
        "password_changed",
        actor_id=user.id,
        actor_email=user.email,
        target=f"user:{user.id}",
        ip=client_ip(),
    )
    return _token_response(svc, user, principal.token_family, REFRESH_COOKIE in request.cookies)


@endpoint(
    bp,
    "/forgot",
    "POST",
    "Send a password-reset link (same answer for any address)",
    body=ForgotIn,
    response=ForgotOut,
    status=202,
)
def forgot() -> Any:
    svc = runtime()
    payload = parse_body(ForgotIn)
    email = payload.email.strip().lower()
    wait = svc.rate_limiter.hit(f"forgot-ip:{client_ip()}", f"forgot:{email}")
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests; retry in {wait} s",
            {"retry_after": wait},
            headers={"Retry-After": str(wait)},
        )
    user = svc.datastore.find_user(email=email)
    if user is not None and user.active:
        token = generate_reset_password_token(user)
        link = f"{svc.settings.public_url.rstrip('/')}/reset-password?token={token}"
        minutes = svc.settings.reset_token_ttl // 60
        body = (
            f"Someone asked to reset the password of your Rookery account {user.email}.\n\n"
            f"Open this link within {minutes} minutes to choose a new password:\n{link}\n\n"
            f"Reset token: {token}\n\nIf it was not you, ignore this message.\n"
        )
        if svc.mailer.configured:
            # Sent off the request thread so the answer takes as long for any address.
            threading.Thread(
                target=svc.mailer.send,
                args=(user.email, "Rookery password reset", body),
                daemon=True,
            ).start()
        elif not svc.settings.production:
            svc.mailer.send(user.email, "Rookery password reset", body)
        audit.record(
            svc.dal,
            "password_reset_requested",
            actor_id=user.id,
            actor_email=user.email,
            ip=client_ip(),
        )
    message = "if the address has an account, a reset link is on its way"
    if svc.mailer.configured:
        delivery = "smtp"
    elif svc.settings.production:
        delivery = "disabled"
        message = "password reset by e-mail is not configured; ask an administrator"
    else:
        delivery = "logged"
        message += " (no mail server is configured: the link is in the server log)"
    return respond({"message": message, "mail_delivery": delivery}, ForgotOut, status=202)


@endpoint(
    bp,
    "/reset",
    "POST",
    "Set a new password with a reset token (ends every session and, unless kept, the API keys)",
    body=ResetIn,
    response=ResetOut,
)
def reset() -> Any:
    svc = runtime()
    payload = parse_body(ResetIn)
    expired, invalid, user = reset_password_token_status(payload.token)
    if invalid or expired or user is None:
        reason = "expired" if expired else "invalid"
        raise ApiError(400, "invalid_token", f"the reset token is {reason}")
    update_password(user, payload.password)
    sessions = svc.refresh_tokens.revoke_user(user.id)
    keys = revoke_api_keys_of(svc, user.id) if payload.revoke_api_keys else 0
    audit.record(
        svc.dal,
        "password_reset",
        actor_id=user.id,
        actor_email=user.email,
        target=f"user:{user.id}",
        ip=client_ip(),
        details={"api_keys_revoked": keys, "sessions_revoked": sessions},
    )
    message = "password changed; every session was signed out"
    message += (
        f" and {keys} API key(s) revoked" if payload.revoke_api_keys else "; API keys were kept"
    )
    return respond(
        {
            "message": message + "; log in with the new password",
            "api_keys_revoked": keys,
            "sessions_revoked": sessions,
        },
        ResetOut,
    )


@endpoint(
    bp,
    "/2fa/setup",
    "POST",
    "Start TOTP enrolment (needs the password): a new secret to scan",
    body=TwoFactorSetupIn,
    response=TwoFactorSetupOut,
)
def tf_setup() -> Any:
    svc = runtime()
    user = current_principal().user
    payload = parse_body(TwoFactorSetupIn)
    _reauthenticate(svc, user, payload.password, None)
    if user.tf_primary_method:
        raise ApiError(409, "tf_already_enabled", "two-factor is already on; disable it first")
    factory = current_app.extensions["security"].totp_factory
    secret = factory.generate_totp_secret()
    # Pending until confirmed: the secret is kept, the method stays unset.
    user.tf_totp_secret = secret
    svc.datastore.put(user)
    return respond(
        {
            "secret": factory.get_totp_b32_key(secret),
            "otpauth_uri": factory.get_totp_uri(user.email, secret),
        },
        TwoFactorSetupOut,
    )


@endpoint(
    bp,
    "/2fa/confirm",
    "POST",
    "Confirm TOTP enrolment with a code; returns recovery codes once",
    body=TwoFactorConfirmIn,
    response=RecoveryCodesOut,
)
def tf_confirm() -> Any:
    svc = runtime()
    user = current_principal().user
    payload = parse_body(TwoFactorConfirmIn)
    if user.tf_primary_method:
        raise ApiError(409, "tf_already_enabled", "two-factor is already on")
    if not user.tf_totp_secret:
        raise ApiError(409, "tf_not_started", "call /auth/2fa/setup first")
    factory = current_app.extensions["security"].totp_factory
    if not factory.verify_totp(payload.code.strip(), user.tf_totp_secret, user, window=30):
        raise ApiError(
            400, "invalid_totp", "the code is not valid", {"fields": {"code": "wrong code"}}
        )
    svc.datastore.tf_set(user, TOTP_METHOD)
    codes = factory.generate_recovery_codes(RECOVERY_CODE_COUNT)
    svc.datastore.mf_set_recovery_codes(user, [sha256_hex(c.lower()) for c in codes])
    audit.record(
        svc.dal,
        "tf_enabled",
        actor_id=user.id,
        actor_email=user.email,
        target=f"user:{user.id}",
        ip=client_ip(),
    )
    return respond({"recovery_codes": codes}, RecoveryCodesOut)


@endpoint(
    bp,
    "/2fa/disable",
    "POST",
    "Turn TOTP off (needs the password and a current code or recovery code)",
    body=TwoFactorDisableIn,
    response=MessageOut,
)
def tf_disable() -> Any:
    svc = runtime()
    user = current_principal().user
    payload = parse_body(TwoFactorDisableIn)
    if not user.password or not verify_password(payload.password, user.password):
        raise ApiError(
            400,
            "invalid_password",
            "the password is wrong",
            {"fields": {"password": "wrong password"}},
        )
    # The second factor protects against a stolen password: turning it off takes both.
    _check_second_factor(svc, user, payload.totp)
    svc.datastore.tf_reset(user)
    svc.datastore.mf_set_recovery_codes(user, None)
    audit.record(
        svc.dal,
        "tf_disabled",
        actor_id=user.id,
        actor_email=user.email,
        target=f"user:{user.id}",
        ip=client_ip(),
    )
    return respond({"message": "two-factor authentication is off"}, MessageOut)


@endpoint(bp, "/sessions", "GET", "The caller's signed-in sessions", response=SessionOut, many=True)
def list_sessions() -> Any:
    svc = runtime()
    principal = current_principal()
    rows = svc.refresh_tokens.sessions(principal.user.id)
    return respond(
        [
            {
                "id": info.id,
                "created_at": info.created_at,
                "last_used_at": info.last_used_at,
                "expires_at": info.expires_at,
                "ip": info.ip,
                "user_agent": info.user_agent,
                "current": info.id == principal.token_family,
            }
            for info in rows
        ],
        SessionOut,
    )


@endpoint(
    bp,
    "/sessions",
    "DELETE",
    "Sign out every other session of the caller",
    response=SessionsEndedOut,
)
def end_other_sessions() -> Any:
    svc = runtime()
    principal = current_principal()
    others = [
        info.id
        for info in svc.refresh_tokens.sessions(principal.user.id)
        if info.id != principal.token_family
    ]
    # Families are ended one by one (not "all but mine") so the count is what the user saw.
    ended = sum(svc.refresh_tokens.revoke_session(principal.user.id, f) for f in others)
    audit.record(
        svc.dal,
        "sessions_ended",
        actor_id=principal.user.id,
        actor_email=principal.user.email,
        target=f"user:{principal.user.id}",
        ip=client_ip(),
        details={"ended": ended},
    )
    return respond({"ended": ended}, SessionsEndedOut)


@endpoint(
    bp,
    "/sessions/<session_id>",
    "DELETE",
    "Sign out one session of the caller",
    response=SessionsEndedOut,
)
def end_session(session_id: str) -> Any:
    svc = runtime()
    principal = current_principal()
    if len(session_id) > 64 or not session_id.isalnum() or not session_id.isascii():
        raise ApiError(404, "not_found", "no such session")
    if not svc.refresh_tokens.revoke_session(principal.user.id, session_id):
        raise ApiError(404, "not_found", "no such session")
    audit.record(
        svc.dal,
        "session_ended",
        actor_id=principal.user.id,
        actor_email=principal.user.email,
        target=f"user:{principal.user.id}",
        ip=client_ip(),
        details={"session": session_id, "current": session_id == principal.token_family},
    )
    return respond({"ended": 1}, SessionsEndedOut)
