"""TOTP two-factor: enrolment, confirmation with recovery codes, and removal; and the
checks login and account changes use (the second factor, re-authentication)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import current_app
from flask_security.utils import verify_password
from passlib.exc import TokenError, UsedTokenError

from .... import audit
from ....errors import ApiError
from ....guard import current_principal
from ....models import User
from ....runtime import Runtime, runtime
from ....utils import sha256_hex
from ... import endpoint, parse_body, respond
from ..bodies import (
    MessageOut,
    RecoveryCodesOut,
    TwoFactorConfirmIn,
    TwoFactorDisableIn,
    TwoFactorSetupIn,
    TwoFactorSetupOut,
)
from . import bp, client_ip

TOTP_METHOD = "authenticator"
RECOVERY_CODE_COUNT = 10


def two_factor_enabled(user: User) -> bool:
    return bool(user.tf_primary_method and user.tf_totp_secret)


def check_second_factor(svc: Runtime, user: User, code: str | None) -> None:
    if not two_factor_enabled(user):
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


def reauthenticate(svc: Runtime, user: User, password: str | None, totp: str | None) -> None:
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
    if totp and two_factor_enabled(user):
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
        + (" or an authenticator code" if two_factor_enabled(user) else ""),
        {"fields": {"current_password": "required"}},
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
    reauthenticate(svc, user, payload.password, None)
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
    check_second_factor(svc, user, payload.totp)
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
