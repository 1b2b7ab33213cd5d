"""/api/v1/audit: the security event log, newest first."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint

from ...audit import EVENTS
from ...services import services
from .. import endpoint, parse_query, respond
from .schemas import AuditOut, AuditQuery

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


def event_json(row: Any) -> dict[str, Any]:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {"raw": row.details}
    return {
        "id": row.id,
        "event": row.event,
        "actor_id": row.actor_id,
        "actor_email": row.actor_email,
        "target": row.target,
        "ip": row.ip,
        "details": details if isinstance(details, dict) else {"value": details},
        "created_at": row.created_at,
    }


@endpoint(
    bp,
    "",
    "GET",
    "Audit events, newest first (filter by event)",
    query=AuditQuery,
    response=AuditOut,
    many=True,
)
def list_events() -> Any:
    dal = services().dal
    query = parse_query(AuditQuery)
    table = dal.audit_event
    condition = table.id > 0
    if query.event:
        condition &= table.event == query.event
    total = dal(condition).count()
    start = (query.page - 1) * query.per_page
    rows = dal(condition).select(orderby=~table.id, limitby=(start, start + query.per_page))
    return respond(
        [event_json(r) for r in rows],
        AuditOut,
        meta={"total": total, "page": query.page, "per_page": query.per_page},
    )


@endpoint(bp, "/events", "GET", "The audit event type names")
def list_event_types() -> Any:
    return respond(list(EVENTS))
