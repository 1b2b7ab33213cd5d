"""Every route, for every kind of caller answers as the policy table says, and the table and
the application's routes are the same set."""

from __future__ import annotations

import re

import pytest
from rookery_backend.policy import (
    AUTHENTICATED,
    BUILTIN_ROLES,
    FEATURES,
    PUBLIC,
    ROUTE_POLICY,
    SCOPES,
    Interactive,
    gated_feature,
    is_interactive,
    required_scope,
)

# The error codes only the guard produces: seeing one means the guard refused the call.
GUARD_CODES = {
    "unauthorized",
    "invalid_token",
    "insufficient_scope",
    "session_required",
    "feature_not_licensed",
}
APIKEY_SCOPES = {"rules:read", "stats:read"}  # what the conftest's key was created with
# Callers that are machine credentials, not interactive sessions.
API_KEYS = {"apikey", "apikey-admin"}


def app_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, rule.rule))
    return routes


def test_every_route_is_in_the_policy_table_and_back(app) -> None:
    routes = app_routes(app)
    missing = sorted(routes - set(ROUTE_POLICY))
    stale = sorted(set(ROUTE_POLICY) - routes)
    assert not missing, f"routes without a policy entry: {missing}"
    assert not stale, f"policy entries without a route: {stale}"
    for method, rule in ROUTE_POLICY:
        scope = required_scope(method, rule)
        assert scope in (PUBLIC, AUTHENTICATED) or scope in SCOPES
        assert not (is_interactive(method, rule) and scope == PUBLIC)
        feature = gated_feature(method, rule)
        assert feature is None or feature in FEATURES, (method, rule, feature)


@pytest.mark.parametrize(
    "route",
    [
        ("PATCH", "/api/v1/auth/me"),
        ("POST", "/api/v1/auth/password"),
        ("POST", "/api/v1/auth/2fa/setup"),
        ("POST", "/api/v1/auth/2fa/confirm"),
        ("POST", "/api/v1/auth/2fa/disable"),
        ("POST", "/api/v1/apikeys"),
        ("POST", "/api/v1/apikeys/<int:key_id>/rotate"),
        ("GET", "/api/v1/auth/sessions"),
    ],
)
def test_account_management_needs_an_interactive_session(route) -> None:
    # API keys are machine credentials: whatever their scopes, they do not manage their
    # owner's account, sessions or keys.
    assert isinstance(ROUTE_POLICY[route], Interactive)


def test_an_unlisted_route_is_refused(app, api) -> None:
    # Fail closed: a view added without a policy entry answers 403, never serves.
    app.add_url_rule("/api/v1/unlisted", "unlisted", lambda: {"data": "leak"})
    reply = api.call("GET", "/api/v1/unlisted", api.admin_token())
    assert reply.status_code == 403
    assert reply.get_json()["error"]["message"] == "this route has no access policy"


def scopes_of(who: str) -> set[str]:
    if who == "apikey":
        return APIKEY_SCOPES
    if who == "apikey-admin":
        return set(BUILTIN_ROLES["admin"][1])
    return set(BUILTIN_ROLES[who][1])


def test_policy_matrix(app, api, principals) -> None:
    # Development mode: every licensed feature is on.
    failures = matrix_failures(api, principals, features_on=None)
    assert not failures, "\n".join(failures)


def matrix_failures(api, principals, features_on: frozenset[str] | None) -> list[str]:
    """Every route as every caller; `features_on` None = every licensed feature is on,
    else a gated route whose feature is not in it must answer feature_not_licensed to the
    callers that may otherwise use it."""
    failures = []
    # Logout ends the caller's session, so it goes last.
    order = sorted(ROUTE_POLICY, key=lambda route: (route[1].endswith("/logout"), route))
    for method, rule in order:
        path = re.sub(r"<(?:\w+:)?\w+>", "999999", rule)
        requirement = required_scope(method, rule)
        interactive = is_interactive(method, rule)
        feature = gated_feature(method, rule)
        licensed = feature is None or features_on is None or feature in features_on
        for who, token in principals.items():
            reply = api.call(method, path, token, json={})
            body = reply.get_json(silent=True) or {}
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            if requirement == PUBLIC:
                allowed = True
            elif token is None or (interactive and who in API_KEYS):
                allowed = False
            else:
                allowed = requirement == AUTHENTICATED or requirement in scopes_of(who)
            if allowed and not licensed:
                ok = reply.status_code == 403 and code == "feature_not_licensed"
                if ok:
                    details = body["error"]["details"]
                    ok = details.get("feature") == feature and bool(details.get("tier"))
            elif allowed:
                # Past the guard; the stats routes may then say packet-service (none
                # is configured here) is out of reach: that is their answer, not a fault.
                upstream = reply.status_code == 503 and code == "upstream_unavailable"
                ok = code not in GUARD_CODES and (reply.status_code < 500 or upstream)
            elif token is None:
                ok = reply.status_code == 401 and code == "unauthorized"
            elif interactive and who in API_KEYS:
                ok = reply.status_code == 403 and code == "session_required"
            else:
                ok = reply.status_code == 403 and code == "insufficient_scope"
            if not ok:
                failures.append(f"{method} {rule} as {who}: {reply.status_code} {code}")
    return failures
