"""/api/v1/auth, one blueprint whose routes live in a module per job:

- `tokens`: login, token refresh and logout; the refresh cookie
- `account`: the caller's own account (`/me`, e-mail change, password change)
- `recovery`: password recovery (`/forgot`, `/reset`)
- `two_factor`: TOTP enrolment and removal, and the second-factor and re-authentication
  checks the other modules use
- `sessions`: the caller's signed-in sessions
- `sso`: OpenID Connect single sign-on (the provider's redirect and callback)

Account mechanics (bcrypt hashing, tracking fields, password change and reset tokens, TOTP)
are Flask-Security-Too's; tokens are Rookery's."""

from __future__ import annotations

from flask import Blueprint, request

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


def client_ip() -> str:
    return request.remote_addr or "unknown"


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:255]


# The view modules register their routes on `bp` when imported; this order is the order
# of the routes in the URL map.
from . import tokens, account, recovery, two_factor, sessions, sso  # noqa: E402,F401,I001
