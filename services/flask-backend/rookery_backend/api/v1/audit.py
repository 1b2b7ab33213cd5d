"""/api/v1/audit: the security event log, filtered, sorted, paginated or exported as CSV."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from flask import Blueprint

from ...audit import EVENTS
from ...csv_export import EXPORT_MAX_ROWS, csv_response
from ...runtime import runtime
from .. import endpoint, parse_query, respond
from .bodies import AuditFilterQuery, AuditOut, AuditQuery

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")

CSV_COLUMNS = (
    "id",
    "created_at",
    "event",
    "actor_id",
    "actor_email",
    "target",
    "target_label",
    "ip",
    "details",
)


def _naive_utc(value: datetime | date, *, end_of_day: bool) -> datetime:
    """A query bound as the database stores times (naive UTC); a date covers its whole day."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            try:
                value = value.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:  # year 1 or 9999 shifted past the calendar's ends
                value = datetime.max if value.year > 1 else datetime.min
        return value
    if end_of_day:
        return datetime.combine(value, time.max)
    return datetime.combine(value, time())


def _condition(dal: Any, query: AuditFilterQuery) -> Any:
    table = dal.audit_event
    condition = table.id > 0
    if query.event:
        condition &= table.event == query.event
    if query.actor:
        actor = query.actor.strip()
        by_actor = table.actor_email.contains(actor.lower())
        if actor.isdigit():
            by_actor |= table.actor_id == int(actor)
        condition &= by_actor
    if query.target:
        wanted = query.target.strip()
        # Readable names lead back to raw targets: a user's e-mail, a rule's name.
        user_targets = [
            f"user:{row.id}"
            for row in dal(dal.auth_user.email.contains(wanted.lower())).select(
                dal.auth_user.id, limitby=(0, 1000)
            )
        ]
        rule_targets = [
            f"rule:{row.rule_id}"
            for row in dal(dal.packet_rule.name.contains(wanted)).select(
                dal.packet_rule.rule_id, limitby=(0, 1000)
            )
        ]
        by_target = table.target.contains(wanted)
        if user_targets or rule_targets:
            by_target |= table.target.belongs(user_targets + rule_targets)
        condition &= by_target
    if query.from_ is not None:
        condition &= table.created_at >= _naive_utc(query.from_, end_of_day=False)
    if query.to is not None:
        condition &= table.created_at <= _naive_utc(query.to, end_of_day=True)
    if query.q:
        text = query.q.strip()
        condition &= (
            table.event.contains(text)
            | table.actor_email.contains(text)
            | table.target.contains(text)
            | table.ip.contains(text)
            | table.details.contains(text)
        )
    return condition


def _orderby(dal: Any, sort: str) -> Any:
    table = dal.audit_event
    column = {"created_at": table.id, "event": table.event, "actor": table.actor_email}[
        sort.lstrip("-")
    ]
    descending = sort.startswith("-")
    first = ~column if descending else column
    # Ties (same event, same actor) stay newest first.
    return first if column is table.id else first | ~table.id


def _details(row: Any) -> dict[str, Any]:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        return {"raw": row.details}
    return details if isinstance(details, dict) else {"value": details}


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def target_labels(dal: Any, rows: list[Any]) -> dict[str, str]:
    """Raw target → what a person reads: user:7 → their e-mail, rule:ab12 → the rule's name.
    A few small queries for a whole page; things deleted since fall back to the audit line."""
    ids: dict[str, set[str]] = {"user": set(), "rule": set(), "apikey": set()}
    for row in rows:
        kind, _, ident = (row.target or "").partition(":")
        if kind in ids and ident:
            ids[kind].add(ident)
    labels: dict[str, str] = {"rules": "rule set"}
    users, rules, keys = dal.auth_user, dal.packet_rule, dal.api_key
    for chunk in _chunks(sorted(int(i) for i in ids["user"] if i.isdigit())):
        for row in dal(users.id.belongs(chunk)).select(users.id, users.email):
            labels[f"user:{row.id}"] = row.email
    for chunk in _chunks(sorted(ids["rule"])):
        for row in dal(rules.rule_id.belongs(chunk)).select(rules.rule_id, rules.name):
            labels[f"rule:{row.rule_id}"] = row.name
    for chunk in _chunks(sorted(int(i) for i in ids["apikey"] if i.isdigit())):
        for row in dal(keys.id.belongs(chunk)).select(keys.id, keys.name):
            labels[f"apikey:{row.id}"] = row.name
    return labels


def _label(row: Any, details: dict[str, Any], labels: dict[str, str]) -> str | None:
    target = row.target
    if not target:
        return None
    if target in labels:
        return labels[target]
    kind, _, ident = target.partition(":")
    if kind == "role":
        return ident
    # Deleted since: the audit line itself kept the e-mail or the name.
    remembered = details.get("email") if kind == "user" else details.get("name")
    return str(remembered) if remembered else None


def event_json(row: Any, labels: dict[str, str] | None = None) -> dict[str, Any]:
    details = _details(row)
    return {
        "id": row.id,
        "event": row.event,
        "actor_id": row.actor_id,
        "actor_email": row.actor_email,
        "target": row.target,
        "target_label": _label(row, details, labels or {}),
        "ip": row.ip,
        "details": details,
        "created_at": row.created_at,
    }


@endpoint(
    bp,
    "",
    "GET",
    "Audit events (filter by event, actor, target, dates, text; sorted; paginated)",
    query=AuditQuery,
    response=AuditOut,
    many=True,
)
def list_events() -> Any:
    dal = runtime().dal
    query = parse_query(AuditQuery)
    condition = _condition(dal, query)
    total = dal(condition).count()
    start = (query.page - 1) * query.per_page
    rows = list(
        dal(condition).select(
            orderby=_orderby(dal, query.sort), limitby=(start, start + query.per_page)
        )
    )
    labels = target_labels(dal, rows)
    return respond(
        [event_json(r, labels) for r in rows],
        AuditOut,
        meta={"total": total, "page": query.page, "per_page": query.per_page},
    )


@endpoint(
    bp,
    "/export",
    "GET",
    "The audit events the same filters select, as a CSV download",
    query=AuditFilterQuery,
    media_types=("text/csv",),
)
def export_events() -> Any:
    dal = runtime().dal
    query = parse_query(AuditFilterQuery)
    condition = _condition(dal, query)
    total = dal(condition).count()
    rows = list(
        dal(condition).select(orderby=_orderby(dal, query.sort), limitby=(0, EXPORT_MAX_ROWS))
    )
    labels = target_labels(dal, rows)
    lines = []
    for row in rows:
        entry = event_json(row, labels)
        entry["details"] = json.dumps(entry["details"], sort_keys=True, default=str)
        lines.append([entry[column] for column in CSV_COLUMNS])
    return csv_response("rookery-audit", CSV_COLUMNS, lines, truncated=total > len(rows))


@endpoint(bp, "/events", "GET", "The audit event type names")
def list_event_types() -> Any:
    return respond(list(EVENTS))
