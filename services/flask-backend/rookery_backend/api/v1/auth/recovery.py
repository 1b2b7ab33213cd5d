"""Password recovery: a reset link by e-mail, then a new password with its token."""

from __future__ import annotations

import threading
from typing import Any

from flask_security.recoverable import (
    generate_reset_password_token,
    reset_password_token_status,
    update_password,
)

from .... import audit
from ....accounts import revoke_api_keys_of
from ....errors import ApiError
from ....models import User
from ....ratelimit import address_key
from ....runtime import Runtime, runtime
from ....sso import break_glass_emails, sso_required
from ... import endpoint, parse_body, respond
from ..bodies import ForgotIn, ForgotOut, ResetIn, ResetOut
from . import bp, client_ip


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
    # An IPv6 host counts by its /64, as for logins (ratelimit.address_key).
    wait = svc.rate_limiter.hit(f"forgot-ip:{address_key(client_ip())}", f"forgot:{email}")
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests; retry in {wait} s",
            {"retry_after": wait},
            headers={"Retry-After": str(wait)},
        )
    user = svc.datastore.find_user(email=email)
    if user is not None and user.active and _may_reset(svc, user):
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


def _may_reset(svc: Runtime, user: User) -> bool:
    """An account without a password (made by single sign-on, or a service account) gets
    no reset link: a password would open a way in around the provider. An administrator
    can still give it one. While SSO_REQUIRED, only the break-glass admins get links.
    The answer is the same either way."""
    if not user.password:
        return False
    return not sso_required(svc.settings) or user.email in break_glass_emails(svc.settings)


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
