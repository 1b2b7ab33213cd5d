"""THE route → scope table, the scope catalogue and the built-in roles.

Every route of the application appears in ROUTE_POLICY exactly once, keyed by HTTP method
and Flask rule. The request hook in guard.py enforces it for every request; a route
missing from the table is refused (fail closed) and the policy-matrix test fails.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "public"  # anyone, no credential needed
AUTHENTICATED = "authenticated"  # any valid credential, no particular scope


@dataclass(slots=True, frozen=True)
class Interactive:
    """A route only a person signed in with a password may call: an access token from
    /auth/login or /auth/refresh, never an API key. API keys are machine credentials: they
    do not manage their owner's account, its sessions or its keys, whatever their scopes."""

    scope: str = AUTHENTICATED


@dataclass(slots=True, frozen=True)
class Gated:
    """A route that also needs a licensed feature (FEATURES). The guard checks `requirement`
    as for any route, then the feature: 403 feature_not_licensed while it is off. In
    development mode every feature is on (licensing/, docs/LICENSING.md)."""

    feature: str
    requirement: str | Interactive


Requirement = str | Interactive | Gated

# What a licence can switch on, and the tiers (each with the features it includes; a
# licence's own `features` list may add to its tier's).
FEATURES: dict[str, str] = {
    "sso_oidc": "Sign-in through an OpenID Connect provider (single sign-on)",
    "multi_tenancy": "Teams with their own rule sets and members",
    "audit_export": "Export the audit log as CSV",
}
TIERS: dict[str, tuple[str, ...]] = {
    "community": (),
    "professional": ("sso_oidc", "audit_export"),
    "enterprise": ("sso_oidc", "multi_tenancy", "audit_export"),
}

SCOPES: dict[str, str] = {
    "users:read": "List and view user accounts",
    "users:write": "Create and edit user accounts",
    "users:admin": "Delete users and assign roles",
    "roles:read": "List roles and the scope catalogue",
    "roles:admin": "Create, edit and delete roles",
    "apikeys:read": "List your API keys",
    "apikeys:write": "Create, rotate and revoke your API keys",
    "audit:read": "Read the audit log",
    "rules:read": "Read packet-filter rules and their deployment status",
    "rules:write": "Create, edit, reorder and delete packet-filter rules",
    "stats:read": "Read packet statistics",
    "packets:write": "Submit packets to the packet service",
    "auth:introspect": "Sibling services: ask the gRPC AuthService about credentials",
    "license:read": "View the product licence and which features it turns on",
    "license:admin": "Install a product licence",
}

BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    "admin": ("Everything, including user and role management", sorted(SCOPES)),
    "maintainer": (
        "Read and write on resources; no user or role management",
        [
            "users:read",
            "roles:read",
            "apikeys:read",
            "apikeys:write",
            "audit:read",
            "rules:read",
            "rules:write",
            "stats:read",
            "packets:write",
        ],
    ),
    "viewer": ("Read only", ["roles:read", "rules:read", "stats:read"]),
    "sibling-service": ("A sibling service's own account", ["auth:introspect"]),
}

V1 = "/api/v1"

ROUTE_POLICY: dict[tuple[str, str], Requirement] = {
    # operations
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", f"{V1}/openapi.json"): PUBLIC,
    ("GET", f"{V1}/docs"): PUBLIC,
    ("GET", f"{V1}/docs/<asset>"): PUBLIC,
    # authentication and the caller's own account
    ("POST", f"{V1}/auth/login"): PUBLIC,
    ("POST", f"{V1}/auth/refresh"): PUBLIC,
    ("POST", f"{V1}/auth/forgot"): PUBLIC,
    ("POST", f"{V1}/auth/reset"): PUBLIC,
    ("GET", f"{V1}/auth/sso"): PUBLIC,
    ("GET", f"{V1}/auth/sso/login"): Gated("sso_oidc", PUBLIC),
    ("GET", f"{V1}/auth/sso/callback"): Gated("sso_oidc", PUBLIC),
    ("POST", f"{V1}/auth/logout"): AUTHENTICATED,
    ("GET", f"{V1}/auth/me"): AUTHENTICATED,
    ("PATCH", f"{V1}/auth/me"): Interactive(),
    ("POST", f"{V1}/auth/password"): Interactive(),
    ("POST", f"{V1}/auth/2fa/setup"): Interactive(),
    ("POST", f"{V1}/auth/2fa/confirm"): Interactive(),
    ("POST", f"{V1}/auth/2fa/disable"): Interactive(),
    ("GET", f"{V1}/auth/sessions"): Interactive(),
    ("DELETE", f"{V1}/auth/sessions"): Interactive(),
    ("DELETE", f"{V1}/auth/sessions/<session_id>"): Interactive(),
    # users
    ("GET", f"{V1}/users"): "users:read",
    ("GET", f"{V1}/users/export"): "users:read",
    ("POST", f"{V1}/users"): "users:write",
    ("GET", f"{V1}/users/<int:user_id>"): "users:read",
    ("PATCH", f"{V1}/users/<int:user_id>"): "users:write",
    ("DELETE", f"{V1}/users/<int:user_id>"): "users:admin",
    # roles and scopes
    ("GET", f"{V1}/roles"): "roles:read",
    ("POST", f"{V1}/roles"): "roles:admin",
    ("PATCH", f"{V1}/roles/<int:role_id>"): "roles:admin",
    ("DELETE", f"{V1}/roles/<int:role_id>"): "roles:admin",
    ("GET", f"{V1}/scopes"): "roles:read",
    # API keys (the caller's own; ?all=true additionally needs users:admin)
    ("GET", f"{V1}/apikeys"): "apikeys:read",
    ("POST", f"{V1}/apikeys"): Interactive("apikeys:write"),
    ("DELETE", f"{V1}/apikeys/<int:key_id>"): "apikeys:write",
    ("POST", f"{V1}/apikeys/<int:key_id>/rotate"): Interactive("apikeys:write"),
    # audit log
    ("GET", f"{V1}/audit"): "audit:read",
    ("GET", f"{V1}/audit/events"): "audit:read",
    ("GET", f"{V1}/audit/export"): Gated("audit_export", "audit:read"),
    # packet-filter rules
    ("GET", f"{V1}/rules"): "rules:read",
    ("POST", f"{V1}/rules"): "rules:write",
    ("GET", f"{V1}/rules/<rule_id>"): "rules:read",
    ("PATCH", f"{V1}/rules/<rule_id>"): "rules:write",
    ("DELETE", f"{V1}/rules/<rule_id>"): "rules:write",
    ("POST", f"{V1}/rules/reorder"): "rules:write",
    ("PUT", f"{V1}/rules/default-action"): "rules:write",
    ("POST", f"{V1}/rules/validate"): "rules:read",
    ("GET", f"{V1}/rules/status"): "rules:read",
    # the product licence
    ("GET", f"{V1}/license"): "license:read",
    ("PUT", f"{V1}/license"): Interactive("license:admin"),
    # packet statistics (read from packet-service)
    ("GET", f"{V1}/stats/summary"): "stats:read",
    ("GET", f"{V1}/stats/flows/top"): "stats:read",
    ("GET", f"{V1}/stats/rules"): "stats:read",
    ("GET", f"{V1}/stats/series"): "stats:read",
}

# Extra requirements a handler checks inside a route (kept here so they are visible):
#   GET /apikeys?all=true          users:admin
#   PATCH /users/{id} with roles   users:admin, and the caller holds every granted scope
#   POST /users with roles         users:admin, and the caller holds every granted scope
#   PATCH/DELETE /users/{id}       the caller holds every scope the target account holds
#   DELETE /apikeys/{id}           the key's owner, or users:admin for another user's key
#                                  (rotating stays with the owner: nobody else sees a secret)
#   the built-in service account   deactivating, deleting, re-roling it or revoking its key
#                                  needs an explicit force (audited)
ALL_KEYS_SCOPE = "users:admin"
ROLE_ASSIGNMENT_SCOPE = "users:admin"


def policy_entry(method: str, rule: str) -> Requirement | None:
    """The table's entry for a route as written (Gated included), or None when unlisted."""
    if method == "HEAD":
        method = "GET"
    return ROUTE_POLICY.get((method, rule))


def requirement_of(method: str, rule: str) -> str | Interactive | None:
    """What a caller needs for a route (a Gated entry's inner requirement), or None when
    the route is not in the table."""
    entry = policy_entry(method, rule)
    return entry.requirement if isinstance(entry, Gated) else entry


def gated_feature(method: str, rule: str) -> str | None:
    """The licensed feature a route needs, or None."""
    entry = policy_entry(method, rule)
    return entry.feature if isinstance(entry, Gated) else None


def lowest_tier(feature: str) -> str | None:
    """The first tier (cheapest) that includes `feature`."""
    return next((tier for tier, features in TIERS.items() if feature in features), None)


def required_scope(method: str, rule: str) -> str | None:
    """The scope (or PUBLIC / AUTHENTICATED) a route needs, or None when it is unlisted."""
    requirement = requirement_of(method, rule)
    if isinstance(requirement, Interactive):
        return requirement.scope
    return requirement


def is_interactive(method: str, rule: str) -> bool:
    """True when only a signed-in person's access token may call the route."""
    return isinstance(requirement_of(method, rule), Interactive)
