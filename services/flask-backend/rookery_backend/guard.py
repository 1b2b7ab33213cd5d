"""Enforces policy.ROUTE_POLICY for every request, before any view runs."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, g, request

from . import access
from .credentials import Principal, validate_credential
from .errors import ApiError
from .licensing import feature_enabled, feature_refusal
from .policy import (
    AUTHENTICATED,
    DEFAULT_SET,
    PUBLIC,
    Gated,
    Interactive,
    Listed,
    OnResource,
    policy_entry,
)
from .rules.store import DEFAULT_RULESET
from .runtime import runtime

log = logging.getLogger("rookery.guard")


def bearer_credential() -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <token>'")
        return value.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None


def authenticate() -> Principal:
    credential = bearer_credential()
    if credential is None:
        raise ApiError(
            401,
            "unauthorized",
            "authentication required",
            headers={"WWW-Authenticate": 'Bearer realm="rookery"'},
        )
    svc = runtime()
    check = validate_credential(credential, svc.codec, svc.datastore, svc.principal_cache)
    if check.principal is None:
        raise ApiError(
            401,
            "invalid_token",
            check.message,
            {"reason": check.reason},
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return check.principal


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:  # pragma: no cover - the guard runs before every protected view
        raise ApiError(401, "unauthorized", "authentication required")
    return principal


def _refused(scope: str, **details: Any) -> ApiError:
    return ApiError(
        403,
        "insufficient_scope",
        f"this needs the '{scope}' scope",
        {"required": scope, **details},
    )


def _body_field(name: str) -> Any:
    """A field of the JSON body, or None when there is no JSON object (the view then says
    what is wrong with the body)."""
    # Imported here: the REST layer builds on the guard, not the other way round.
    from .api import is_json_media_type

    raw = request.get_data(cache=True)
    if not raw.strip() or not is_json_media_type(request.mimetype):
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body.get(name) if isinstance(body, dict) else None


def resource_id(requirement: OnResource) -> int | None:
    """The id of the resource a request acts on, as the route's requirement says where to
    find it: a URL argument, a field of the JSON body ("body:<field>"; absent or null
    means no resource), or the default rule set (DEFAULT_SET). Anything but a positive
    integer is a 422 naming the field."""
    if requirement.arg == DEFAULT_SET:
        return DEFAULT_RULESET
    if requirement.arg.startswith("body:"):
        name = requirement.arg[5:]
        value = _body_field(name)
        if value is None:
            return None
        where = f"body field '{name}'"
    else:
        name = requirement.arg
        value = (request.view_args or {}).get(name)
        where = f"path parameter '{name}'"
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ApiError(
            422,
            "validation_error",
            f"invalid {where}: must be a positive integer id",
            {"fields": {name: "must be a positive integer id"}},
        )
    return value


def check_requirement(principal: Principal, requirement: Any) -> None:
    """Raise the guard's 403 unless the principal meets a route's requirement."""
    if isinstance(requirement, OnResource):
        rid = resource_id(requirement)
        if not access.allowed(principal, requirement.scope, requirement.kind, rid):
            raise _refused(requirement.scope, resource={"kind": requirement.kind, "id": rid})
        return
    if isinstance(requirement, Listed):
        visible = access.visible_ids(principal, requirement.kind, requirement.scope)
        if visible is not None and not visible:
            raise _refused(requirement.scope)
        return
    if requirement == AUTHENTICATED:
        return
    # A route on no resource: the scope globally, and a key with no team/rule-set limit.
    if requirement not in principal.scopes:
        raise _refused(requirement)
    if access.is_restricted(principal):
        raise ApiError(
            403,
            "key_restricted",
            "this API key is restricted to one team or rule set; this route acts on neither",
            {"required": requirement},
        )


def install_guard(app: Flask) -> None:
    access.install(app)

    @app.before_request
    def enforce_policy() -> None:
        g.principal = None
        rule = request.url_rule
        if rule is None or request.method == "OPTIONS":
            return  # routing raises 404/405 itself
        entry = policy_entry(request.method, rule.rule)
        if entry is None:
            log.error("route missing from the policy table", extra={"route": rule.rule})
            raise ApiError(403, "forbidden", "this route has no access policy")
        feature = None
        if isinstance(entry, Gated):
            feature = entry.feature
            entry = entry.requirement
        interactive = isinstance(entry, Interactive)
        requirement = entry.scope if isinstance(entry, Interactive) else entry
        if requirement != PUBLIC:
            principal = authenticate()
            g.principal = principal
            if principal.kind != "user" and interactive:
                raise ApiError(
                    403,
                    "session_required",
                    "this needs a signed-in user session; API keys cannot do it",
                    {"credential": principal.kind},
                )
            check_requirement(principal, requirement)
        # A licensed feature is checked once the caller may use the route at all: a caller
        # without the scope learns nothing about the licence.
        if feature is not None and not feature_enabled(feature):
            raise feature_refusal(feature)
