"""Rules in the database (tables packet_rule and packet_ruleset of tables.py). Every
change bumps the rule-set version in the same transaction, so the version and the rules
it names never disagree."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..utils import utcnow

RULE_FIELDS = (
    "name", "action", "protocol", "src", "dst", "src_ports", "dst_ports", "vlan", "enabled",
    "description",
)  # fmt: skip
RULESET_ROW = 1


@dataclass(slots=True)
class RuleSetState:
    version: int
    default_action: str
    rules: list[dict[str, Any]]


def _rule_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.rule_id,
        "position": row.position,
        "name": row.name,
        "action": row.action,
        "protocol": row.protocol,
        "src": list(row.src or []),
        "dst": list(row.dst or []),
        "src_ports": list(row.src_ports or []),
        "dst_ports": list(row.dst_ports or []),
        "vlan": row.vlan,
        "enabled": bool(row.enabled),
        "description": row.description or "",
    }


def _ruleset_row(dal: Any) -> Any:
    table = dal.packet_ruleset
    row = dal(table.id == RULESET_ROW).select(limitby=(0, 1)).first()
    if row is None:
        table.insert(id=RULESET_ROW, version=0, default_action="allow", updated_at=utcnow())
        row = dal(table.id == RULESET_ROW).select(limitby=(0, 1)).first()
    return row


def _bump(dal: Any) -> int:
    table = dal.packet_ruleset
    _ruleset_row(dal)
    # version = version + 1 in SQL: concurrent writers serialise on the row.
    dal(table.id == RULESET_ROW).update(version=table.version + 1, updated_at=utcnow())
    return int(dal(table.id == RULESET_ROW).select(table.version).first().version)


def current(dal: Any) -> RuleSetState:
    meta = _ruleset_row(dal)
    return RuleSetState(int(meta.version), meta.default_action, list_rules(dal))


def version(dal: Any) -> int:
    """The rule-set version alone (one row): what the publisher reads before deciding
    whether the whole set must be loaded again."""
    return int(_ruleset_row(dal).version)


def head(dal: Any) -> tuple[int, str, int]:
    """The version, the default action and the number of rules, without reading them."""
    meta = _ruleset_row(dal)
    return int(meta.version), meta.default_action, dal(dal.packet_rule).count()


def list_rules(dal: Any, limitby: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The rules in evaluation order; `limitby` (start, stop) reads one page of them.
    cacheable=True: plain rows, without PyDAL's per-row update/delete helpers."""
    table = dal.packet_rule
    rows = dal(table).select(
        *_columns(table), orderby=table.position | table.id, limitby=limitby, cacheable=True
    )
    return [_rule_json(row) for row in rows]


def _columns(table: Any) -> list[Any]:
    return [table[name] for name in ("rule_id", "position", *RULE_FIELDS)]


def get_rule(dal: Any, rule_id: str) -> dict[str, Any] | None:
    table = dal.packet_rule
    row = dal(table.rule_id == rule_id).select(limitby=(0, 1)).first()
    return _rule_json(row) if row else None


def create_rule(dal: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], int]:
    table = dal.packet_rule
    last = dal(table).select(table.position.max()).first()[table.position.max()]
    now = utcnow()
    rule_id = uuid.uuid4().hex[:16]
    table.insert(
        rule_id=rule_id,
        position=(last + 1) if last is not None else 0,
        created_at=now,
        updated_at=now,
        **{name: fields[name] for name in RULE_FIELDS},
    )
    version = _bump(dal)
    return get_rule(dal, rule_id) or {}, version


def update_rule(dal: Any, rule_id: str, fields: dict[str, Any]) -> int:
    table = dal.packet_rule
    dal(table.rule_id == rule_id).update(
        updated_at=utcnow(), **{name: fields[name] for name in RULE_FIELDS}
    )
    return _bump(dal)


def delete_rule(dal: Any, rule_id: str) -> int:
    dal(dal.packet_rule.rule_id == rule_id).delete()
    return _bump(dal)


def reorder(dal: Any, ids: list[str]) -> int:
    table = dal.packet_rule
    for position, rule_id in enumerate(ids):
        dal(table.rule_id == rule_id).update(position=position)
    return _bump(dal)


def set_default_action(dal: Any, action: str) -> int:
    _ruleset_row(dal)
    dal(dal.packet_ruleset.id == RULESET_ROW).update(default_action=action)
    return _bump(dal)
