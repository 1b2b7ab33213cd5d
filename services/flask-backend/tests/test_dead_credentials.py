"""Every route that needs a credential refuses a dead one with 401 JSON: an expired access
token, a revoked API key, the token of a deactivated account, with or without a body.
The check is the guard's, before any view; this walks the policy table so a route added
later is attacked too."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from rookery_backend.policy import PUBLIC, ROUTE_POLICY, required_scope

pytestmark = pytest.mark.single_database  # the guard's check, the same on every backend

PROTECTED = sorted(
    (method, rule) for method, rule in ROUTE_POLICY if required_scope(method, rule) != PUBLIC
)


@pytest.fixture
def dead_credentials(app, api) -> dict[str, str]:
    admin = api.admin_token()
    secret = app.extensions["rookery"].codec.signing_key
    claims = jwt.decode(admin, options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    expired = jwt.encode(claims, secret, algorithm="HS256")

    key = api.call(
        "POST", "/api/v1/apikeys", admin, json={"name": "doomed", "scopes": ["users:read"]}
    )
    assert key.status_code == 201, key.get_json()
    revoked = api.call("DELETE", f"/api/v1/apikeys/{key.get_json()['data']['id']}", admin)
    assert revoked.status_code == 200, revoked.get_json()

    person = api.create_user(admin, "gone@example.com", ["admin"])
    deactivated_token = api.login("gone@example.com", "password1")
    off = api.call("PATCH", f"/api/v1/users/{person['id']}", admin, json={"active": False})
    assert off.status_code == 200, off.get_json()
    return {
        "an expired access token": expired,
        "a revoked API key": key.get_json()["data"]["key"],
        "a deactivated account's token": deactivated_token,
    }


def test_every_protected_route_refuses_every_dead_credential(api, dead_credentials) -> None:
    assert len(PROTECTED) > 50  # the walk covers the table, not a handful
    wrong: list[str] = []
    for method, rule in PROTECTED:
        path = re.sub(r"<[^>]+>", "1", rule)
        body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        for what, credential in dead_credentials.items():
            reply = api.call(method, path, credential, **body)
            error = (reply.get_json(silent=True) or {}).get("error", {})
            if reply.status_code != 401 or error.get("code") not in (
                "invalid_token",
                "unauthorized",
            ):
                wrong.append(f"{method} {rule} with {what}: {reply.status_code} {error}")
    assert not wrong, "\n".join(wrong)
