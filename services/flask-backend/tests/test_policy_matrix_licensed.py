"""The policy matrix in production mode, with and without the licensed features: a gated
route answers feature_not_licensed (naming the feature and its tier) to exactly the callers
that could otherwise use it, and every other route answers as in development mode.

Reuses the conftest's principals (admin, maintainer, viewer, API keys, anonymous) on a
production app trusting a throwaway issuer."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ADMIN_EMAIL, Api
from license_issuer import DAY, PRODUCTION_ADMIN_PASSWORD, Issuer, production
from rookery_backend.licensing import EXTENSION
from rookery_backend.policy import FEATURES, ROUTE_POLICY, TIERS, Gated
from test_policy_matrix import matrix_failures

GATED_ROUTES = {route for route, entry in ROUTE_POLICY.items() if isinstance(entry, Gated)}
# licence kind → the features on
KINDS: dict[str, frozenset[str]] = {
    "enterprise": frozenset(FEATURES),
    "professional": frozenset(TIERS["professional"]),
    "community": frozenset(),
    "expired": frozenset(),  # an enterprise licence past its grace period
}


class ProductionApi(Api):
    def admin_token(self) -> str:
        return self.login(ADMIN_EMAIL, PRODUCTION_ADMIN_PASSWORD)


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(app_factory, make_settings, kind: str) -> Any:
    issuer = Issuer()
    tier = "enterprise" if kind == "expired" else kind
    text = issuer.issue(tier=tier)
    base = production(make_settings(), issuer, text)
    overrides = {
        name: getattr(base, name)
        for name in ("release_mode", "admin_password", "license_public_key", "license_key")
    }
    return app_factory(**overrides)


@pytest.fixture
def api(client: Any) -> Api:
    return ProductionApi(client)


def test_gated_routes_exist() -> None:
    assert ("GET", "/api/v1/audit/export") in GATED_ROUTES


def test_policy_matrix_in_production(app, api, principals, kind: str) -> None:
    if kind == "expired":
        # Past expiry and grace by the injected clock: the principals' tokens (signed
        # with the real clock) stay valid, only the licence ends.
        manager = app.extensions[EXTENSION]
        future = manager.clock() + 366 * DAY + manager.grace_seconds + 1
        manager.clock = lambda: future
    failures = matrix_failures(api, principals, features_on=KINDS[kind])
    assert not failures, "\n".join(failures)


def test_what_each_feature_gates() -> None:
    # The table's gating rules: the audit export needs audit_export; every single sign-on
    # step past the public "is it on?" route needs sso_oidc; multi_tenancy gates every team
    # route, creating a rule set and granting access to one (reading, editing and deleting
    # what exists, the default set included, and taking a grant away stay open: a lapsed
    # licence must not lock anyone out of cleaning up); nothing else is gated.
    assert ROUTE_POLICY[("GET", "/api/v1/audit/export")] == Gated("audit_export", "audit:read")
    multi_tenancy = {
        ("POST", "/api/v1/rulesets"),
        ("POST", "/api/v1/rulesets/<int:ruleset_id>/grants"),
    }
    for (method, rule), entry in ROUTE_POLICY.items():
        if rule.startswith("/api/v1/auth/sso/"):
            assert isinstance(entry, Gated) and entry.feature == "sso_oidc", (method, rule)
        elif rule.startswith("/api/v1/teams") or (method, rule) in multi_tenancy:
            assert isinstance(entry, Gated) and entry.feature == "multi_tenancy", (method, rule)
        elif rule != "/api/v1/audit/export":
            assert not isinstance(entry, Gated), (method, rule, entry)
    assert not isinstance(ROUTE_POLICY.get(("GET", "/api/v1/auth/sso")), Gated)
