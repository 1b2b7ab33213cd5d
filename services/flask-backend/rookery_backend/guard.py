"""Enforces policy.ROUTE_POLICY for every request, before any view runs."""

from __future__ import annotations

import logging

from flask import Flask, g, request

from .credentials import Principal, validate_credential
from .errors import ApiError
from .licensing import feature_enabled, feature_refusal
from .policy import AUTHENTICATED, PUBLIC, Gated, Interactive, policy_entry
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


def install_guard(app: Flask) -> None:
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
            if requirement != AUTHENTICATED and requirement not in principal.scopes:
                raise ApiError(
                    403,
                    "insufficient_scope",
                    f"this needs the '{requirement}' scope",
                    {"required": requirement},
                )
        # A licensed feature is checked once the caller may use the route at all: a caller
        # without the scope learns nothing about the licence.
        if feature is not None and not feature_enabled(feature):
            raise feature_refusal(feature)
