"""The caller's own account: read it, change its e-mail, change its password."""

from __future__ import annotations

import threading
from typing import Any

from flask import request
from flask_security.changeable import change_user_password
from flask_security.utils import verify_password

from .... import audit
from ....accounts import user_json
from ....errors import ApiError
from ....guard import current_principal
from ....runtime import Runtime, runtime
from ... import endpoint, parse_body, respond
from ..bodies import MePatchIn, PasswordChangeIn, TokenOut, UserOut
from . import bp, client_ip
from .tokens import REFRESH_COOKIE, token_response
from .two_factor import reauthenticate


def _notify(svc: Runtime, recipient: str, subject: str, body: str) -> None:
    """Mail a notice off the request thread (logged instead where no server is set up)."""
    if svc.mailer.configured:
        threading.Thread(
            target=svc.mailer.send, args=(recipient, subject, body), daemon=True
        ).start()
    elif not svc.settings.production:
        svc.mailer.send(recipient, subject, body)


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
        reauthenticate(svc, user, payload.current_password, payload.totp)
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
    return token_response(svc, user, principal.token_family, REFRESH_COOKIE in request.cookies)
