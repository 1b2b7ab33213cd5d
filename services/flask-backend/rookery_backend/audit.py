"""The audit log: security events written in the same transaction as the change."""

from __future__ import annotations

import json
import logging
from typing import Any

from .utils import utcnow

log = logging.getLogger("rookery.audit")

EVENTS: tuple[str, ...] = (
    "login_succeeded",
    "login_failed",
    "login_rate_limited",
    "login_sso",
    "login_sso_failed",
    "logout",
    "refresh_reuse_detected",
    "password_changed",
    "password_reset_requested",
    "password_reset",
    "password_reset_by_admin",
    "email_changed",
    "session_ended",
    "sessions_ended",
    "tf_enabled",
    "tf_disabled",
    "user_created",
    "user_updated",
    "user_activated",
    "user_deactivated",
    "user_deleted",
    "role_created",
    "role_updated",
    "role_deleted",
    "apikey_created",
    "apikey_revoked",
    "apikey_rotated",
    "rule_created",
    "rule_updated",
    "rule_deleted",
    "rules_reordered",
    "rules_default_action",
    "ruleset_created",
    "ruleset_updated",
    "ruleset_deleted",
    "license_installed",
    "team_created",
    "team_updated",
    "team_deleted",
    "team_member_added",
    "team_member_updated",
    "team_member_removed",
    "team_role_created",
    "team_role_deleted",
    "grant_created",
    "grant_deleted",
    "sensor_created",
    "sensor_updated",
    "sensor_deleted",
)


def record(
    dal: Any,
    event: str,
    *,
    actor_id: int | None = None,
    actor_email: str | None = None,
    target: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    if event not in EVENTS:  # pragma: no cover - a typo in a caller
        raise ValueError(f"unknown audit event {event!r}")
    dal.audit_event.insert(
        event=event,
        actor_id=actor_id,
        actor_email=actor_email,
        target=target,
        ip=ip,
        details=json.dumps(details or {}, sort_keys=True, default=str),
        created_at=utcnow(),
    )
    log.info("audit", extra={"event": event, "actor": actor_email, "target": target})


def record_caller_action(event: str, target: str, details: dict[str, Any]) -> None:
    """An audit line for what the authenticated caller of the current request did."""
    # Imported here: the REST layer builds on this module, not the other way round.
    from flask import request

    from .guard import current_principal
    from .runtime import runtime

    principal = current_principal()
    record(
        runtime().dal,
        event,
        actor_id=principal.user.id,
        actor_email=principal.user.email,
        target=target,
        ip=request.remote_addr,
        details=details,
    )
