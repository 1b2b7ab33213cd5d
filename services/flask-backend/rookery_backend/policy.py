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


DEFAULT_SET = "default-set"  # OnResource.arg of the /rules… routes: the default rule set


@dataclass(slots=True, frozen=True)
class OnResource:
    """A route acting on one resource: allowed when `scope` is among the caller's effective
    scopes on it = their global scopes, plus the scopes of their team role in the team that owns
    the resource, plus their grants on it (access.py). `kind` is "ruleset", "team" or "sensor";
    `arg` names where the resource's id is: a URL argument ("ruleset_id"), "body:<field>"
    for a field of the JSON body (a rule set created for a team: absent or null means no
    team, and then only the global scope counts), or DEFAULT_SET for the default rule set
    (/rules…, which acts on it without naming it)."""

    scope: str
    kind: str
    arg: str


@dataclass(slots=True, frozen=True)
class Listed:
    """A listing of resources of `kind`: a caller holding `scope` globally sees them all;
    one holding it only through teams or grants sees those resources (the view filters with
    access.py); a caller holding it nowhere is refused like any other missing scope."""

    scope: str
    kind: str


@dataclass(slots=True, frozen=True)
class Gated:
    """A route that also needs a licensed feature (FEATURES). The guard checks `requirement`
    as for any route, then the feature: 403 feature_not_licensed while it is off. In
    development mode every feature is on (licensing/, docs/LICENSING.md)."""

    feature: str
    requirement: str | Interactive | OnResource | Listed


Requirement = str | Interactive | OnResource | Listed | Gated

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
    "teams:read": "List and view teams and their members",
    "teams:admin": "Create, edit and delete teams; manage their members",
    "rulesets:admin": "Create and delete rule sets; manage who may use them (grants)",
    "sensors:read": "List and view sensors (packet-service instances)",
    "sensors:admin": "Register, move and remove sensors",
}

# The scopes a team role or a grant can carry: they act on one team's resources or on one
# resource, never on accounts, roles or the licence.
RESOURCE_SCOPES: tuple[str, ...] = (
    "teams:read",
    "teams:admin",
    "rulesets:admin",
    "rules:read",
    "rules:write",
    "stats:read",
    "sensors:read",
    "sensors:admin",
)

# Built-in team roles: what a member holds on the team and on every resource it owns.
TEAM_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "team-admin": ("Manages the team, its members, rule sets and sensors", RESOURCE_SCOPES),
    "team-maintainer": (
        "Reads and edits the team's rule sets; sees its sensors",
        ("teams:read", "rules:read", "rules:write", "stats:read", "sensors:read"),
    ),
    "team-viewer": (
        "Reads the team's rule sets, statistics and sensors",
        ("teams:read", "rules:read", "stats:read", "sensors:read"),
    ),
}

# Built-in grant roles on one rule set ("custom" grants carry their own scopes).
GRANT_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "owner": (
        "Edits the rule set and decides who else may use it",
        ("rulesets:admin", "rules:read", "rules:write", "stats:read"),
    ),
    "editor": ("Reads and edits the rule set's rules", ("rules:read", "rules:write", "stats:read")),
    "viewer": ("Reads the rule set's rules and statistics", ("rules:read", "stats:read")),
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
            "teams:read",
            "sensors:read",
        ],
    ),
    "viewer": (
        "Read only",
        ["roles:read", "rules:read", "stats:read", "teams:read", "sensors:read"],
    ),
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
    ("GET", f"{V1}/rules"): OnResource("rules:read", "ruleset", DEFAULT_SET),
    ("POST", f"{V1}/rules"): OnResource("rules:write", "ruleset", DEFAULT_SET),
    ("GET", f"{V1}/rules/<rule_id>"): OnResource("rules:read", "ruleset", DEFAULT_SET),
    ("PATCH", f"{V1}/rules/<rule_id>"): OnResource("rules:write", "ruleset", DEFAULT_SET),
    ("DELETE", f"{V1}/rules/<rule_id>"): OnResource("rules:write", "ruleset", DEFAULT_SET),
    ("POST", f"{V1}/rules/reorder"): OnResource("rules:write", "ruleset", DEFAULT_SET),
    ("PUT", f"{V1}/rules/default-action"): OnResource("rules:write", "ruleset", DEFAULT_SET),
    # a rule checked against no set: for whoever may read the rules of some set
    ("POST", f"{V1}/rules/validate"): Listed("rules:read", "ruleset"),
    ("GET", f"{V1}/rules/status"): OnResource("rules:read", "ruleset", DEFAULT_SET),
    # teams and their members (several teams are a licensed feature: multi_tenancy)
    ("GET", f"{V1}/teams"): Gated("multi_tenancy", Listed("teams:read", "team")),
    ("POST", f"{V1}/teams"): Gated("multi_tenancy", "teams:admin"),
    ("GET", f"{V1}/teams/<int:team_id>"): Gated(
        "multi_tenancy", OnResource("teams:read", "team", "team_id")
    ),
    ("PATCH", f"{V1}/teams/<int:team_id>"): Gated(
        "multi_tenancy", OnResource("teams:admin", "team", "team_id")
    ),
    ("DELETE", f"{V1}/teams/<int:team_id>"): Gated("multi_tenancy", "teams:admin"),
    ("GET", f"{V1}/teams/<int:team_id>/members"): Gated(
        "multi_tenancy", OnResource("teams:read", "team", "team_id")
    ),
    ("POST", f"{V1}/teams/<int:team_id>/members"): Gated(
        "multi_tenancy", OnResource("teams:admin", "team", "team_id")
    ),
    ("PATCH", f"{V1}/teams/<int:team_id>/members/<int:user_id>"): Gated(
        "multi_tenancy", OnResource("teams:admin", "team", "team_id")
    ),
    ("DELETE", f"{V1}/teams/<int:team_id>/members/<int:user_id>"): Gated(
        "multi_tenancy", OnResource("teams:admin", "team", "team_id")
    ),
    # custom team roles (global role management)
    ("GET", f"{V1}/team-roles"): "roles:read",
    ("POST", f"{V1}/team-roles"): "roles:admin",
    ("DELETE", f"{V1}/team-roles/<int:role_id>"): "roles:admin",
    # sensors: the packet-service instances and the rule set each enforces
    ("GET", f"{V1}/sensors"): Listed("sensors:read", "sensor"),
    # Registering a sensor names the address flask-backend dials with its own service
    # credential: global sensors:admin only (the view also refuses restricted keys, and a
    # new address in a PATCH the same way).
    ("POST", f"{V1}/sensors"): "sensors:admin",
    ("GET", f"{V1}/sensors/<int:sensor_id>"): OnResource("sensors:read", "sensor", "sensor_id"),
    ("PATCH", f"{V1}/sensors/<int:sensor_id>"): OnResource("sensors:admin", "sensor", "sensor_id"),
    ("DELETE", f"{V1}/sensors/<int:sensor_id>"): OnResource("sensors:admin", "sensor", "sensor_id"),
    # rule sets (the default set is also /rules; more than one is multi_tenancy)
    ("GET", f"{V1}/rulesets"): Listed("rules:read", "ruleset"),
    ("POST", f"{V1}/rulesets"): Gated(
        "multi_tenancy", OnResource("rulesets:admin", "team", "body:team_id")
    ),
    ("GET", f"{V1}/rulesets/<int:ruleset_id>"): OnResource("rules:read", "ruleset", "ruleset_id"),
    ("PATCH", f"{V1}/rulesets/<int:ruleset_id>"): OnResource(
        "rules:write", "ruleset", "ruleset_id"
    ),
    ("DELETE", f"{V1}/rulesets/<int:ruleset_id>"): OnResource(
        "rulesets:admin", "ruleset", "ruleset_id"
    ),
    ("GET", f"{V1}/rulesets/<int:ruleset_id>/rules"): OnResource(
        "rules:read", "ruleset", "ruleset_id"
    ),
    ("POST", f"{V1}/rulesets/<int:ruleset_id>/rules"): OnResource(
        "rules:write", "ruleset", "ruleset_id"
    ),
    ("GET", f"{V1}/rulesets/<int:ruleset_id>/rules/<rule_id>"): OnResource(
        "rules:read", "ruleset", "ruleset_id"
    ),
    ("PATCH", f"{V1}/rulesets/<int:ruleset_id>/rules/<rule_id>"): OnResource(
        "rules:write", "ruleset", "ruleset_id"
    ),
    ("DELETE", f"{V1}/rulesets/<int:ruleset_id>/rules/<rule_id>"): OnResource(
        "rules:write", "ruleset", "ruleset_id"
    ),
    ("POST", f"{V1}/rulesets/<int:ruleset_id>/rules/reorder"): OnResource(
        "rules:write", "ruleset", "ruleset_id"
    ),
    ("GET", f"{V1}/rulesets/<int:ruleset_id>/status"): OnResource(
        "rules:read", "ruleset", "ruleset_id"
    ),
    ("GET", f"{V1}/rulesets/<int:ruleset_id>/grants"): OnResource(
        "rulesets:admin", "ruleset", "ruleset_id"
    ),
    ("POST", f"{V1}/rulesets/<int:ruleset_id>/grants"): Gated(
        "multi_tenancy", OnResource("rulesets:admin", "ruleset", "ruleset_id")
    ),
    ("DELETE", f"{V1}/rulesets/<int:ruleset_id>/grants/<int:grant_id>"): OnResource(
        "rulesets:admin", "ruleset", "ruleset_id"
    ),
    # the product licence
    ("GET", f"{V1}/license"): "license:read",
    ("PUT", f"{V1}/license"): Interactive("license:admin"),
    # packet statistics (read from packet-service; ?ruleset_id= / ?sensor_id= narrow them,
    # and a caller without the global scope sees only sensors whose rule set they may read)
    ("GET", f"{V1}/stats/summary"): Listed("stats:read", "sensor"),
    ("GET", f"{V1}/stats/flows/top"): Listed("stats:read", "sensor"),
    ("GET", f"{V1}/stats/rules"): Listed("stats:read", "sensor"),
    ("GET", f"{V1}/stats/series"): Listed("stats:read", "sensor"),
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


def requirement_of(method: str, rule: str) -> str | Interactive | OnResource | Listed | None:
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
    if isinstance(requirement, Interactive | OnResource | Listed):
        return requirement.scope
    return requirement


def resource_of(method: str, rule: str) -> OnResource | Listed | None:
    """How the guard finds the resource a route acts on (None: a route on no resource)."""
    requirement = requirement_of(method, rule)
    return requirement if isinstance(requirement, OnResource | Listed) else None


def is_interactive(method: str, rule: str) -> bool:
    """True when only a signed-in person's access token may call the route."""
    return isinstance(requirement_of(method, rule), Interactive)
