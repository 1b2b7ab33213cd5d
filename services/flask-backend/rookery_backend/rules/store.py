"""Rule sets and their rules in the database (tables packet_ruleset, packet_rule and counter of
tables.py).

Row 1 of packet_ruleset is the default set (DEFAULT_RULESET: what /api/v1/rules acts on). A
rule's `ruleset_id` names its set; NULL (a row written before there were several sets) means
the default set everywhere here, and the start-up migration (migrations.py) fills it in.

Versions: every change of a set (a rule created, changed, deleted or reordered, the default
action, the name or description) takes the next value of the deployment-wide counter
`ruleset_version` (`value = value + 1` in SQL, read back in the same transaction) and stores
it as that set's version. So the version and the rules it names never disagree, versions only
grow, no two states of any sets share a number, and every writer of any set serialises on the
counter row. A write takes that row FIRST, before touching any rule or set row: writers of
rule sets queue in one order (no deadlocks between them), and what a write checks after it
(a name taken, a set still there) cannot change under it.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from .. import row_locks
from ..db import select_plain
from ..utils import utcnow

RULE_FIELDS = (
    "name", "action", "protocol", "src", "dst", "src_ports", "dst_ports", "vlan", "enabled",
    "description",
)  # fmt: skip
RULE_COLUMNS = ("rule_id", "position", *RULE_FIELDS)  # what a rule's record holds, in order
DEFAULT_RULESET = 1
DEFAULT_RULESET_NAME = "default"
VERSION_COUNTER = "ruleset_version"
RULESET_FIELDS = (
    "id", "name", "description", "team_id", "version", "default_action", "created_at",
    "updated_at",
)  # fmt: skip


class NotFound(LookupError):
    """The rule set (or the rule in it) is not there (any more)."""


class NameTaken(ValueError):
    """Another rule set of the same owner (team, or none) has that name."""


class TeamGone(LookupError):
    """The team named as a rule set's owner is not there (any more)."""

    def __init__(self, team_id: int) -> None:
        super().__init__(f"team {team_id} does not exist")
        self.team_id = team_id


class InUse(ValueError):
    """Sensors are attached to the rule set."""

    def __init__(self, sensors: int) -> None:
        super().__init__(f"{sensors} sensor(s) enforce this rule set")
        self.sensors = sensors


@dataclass(slots=True)
class RuleSetState:
    version: int
    default_action: str
    rules: list[dict[str, Any]]


def _rule_json(values: tuple[Any, ...]) -> dict[str, Any]:
    """A rule as the API shows it, from a plain record of its RULE_COLUMNS (select_plain:
    PyDAL's own row parsing was four fifths of a rule listing's time)."""
    (rule_id, position, name, action, protocol, src, dst, src_ports, dst_ports, vlan,
     enabled, description) = values  # fmt: skip
    return {
        "id": rule_id,
        "position": position,
        "name": name,
        "action": action,
        "protocol": protocol,
        "src": src or [],
        "dst": dst or [],
        "src_ports": src_ports or [],
        "dst_ports": dst_ports or [],
        "vlan": vlan,
        "enabled": bool(enabled),
        "description": description or "",
    }


def _ruleset_json(row: Any) -> dict[str, Any]:
    name = row.name
    if name is None and row.id == DEFAULT_RULESET:
        name = DEFAULT_RULESET_NAME  # before the start-up migration named it
    return {
        "id": int(row.id),
        "name": name or "",
        "description": row.description or "",
        "team_id": row.team_id,
        "version": int(row.version),
        "default_action": row.default_action,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def in_set(table: Any, ruleset_id: int) -> Any:
    """The query for the rules of one set (the default set's include NULL)."""
    if ruleset_id == DEFAULT_RULESET:
        return (table.ruleset_id == DEFAULT_RULESET) | (table.ruleset_id == None)  # noqa: E711
    return table.ruleset_id == ruleset_id


def _ruleset_row(dal: Any, ruleset_id: int) -> Any:
    table = dal.packet_ruleset
    row = dal(table.id == ruleset_id).select(limitby=(0, 1)).first()
    if row is None and ruleset_id == DEFAULT_RULESET:
        # A database whose schema step (DB_INIT_SCHEMA) has not run: the default set exists
        # all the same, as it always did.
        now = utcnow()
        table.insert(
            id=DEFAULT_RULESET,
            version=0,
            default_action="allow",
            name=DEFAULT_RULESET_NAME,
            created_at=now,
            updated_at=now,
        )
        row = dal(table.id == ruleset_id).select(limitby=(0, 1)).first()
    if row is None:
        raise NotFound(f"no rule set with id {ruleset_id}")
    return row


def _next_version(dal: Any) -> int:
    """The next value of the deployment-wide version counter, in this transaction (the row
    stays locked until it ends: every rule-set writer waits here for the one before)."""
    counter = dal.counter
    mine = counter.name == VERSION_COUNTER
    if not dal(mine).update(value=counter.value + 1):
        # No counter row: a database whose schema step has not run. Start above every
        # version any set holds (migrations.py does the same at start-up).
        table = dal.packet_ruleset
        highest = dal(table).select(table.version.max()).first()[table.version.max()]
        counter.insert(name=VERSION_COUNTER, value=int(highest or 0) + 1)
    return int(dal(mine).select(counter.value).first().value)


def _stamp(dal: Any, ruleset_id: int, **fields: Any) -> int:
    """Gives the set its next version (with `fields` changed on its row); NotFound when it
    is gone. Called first in every write (see the module's docstring)."""
    version = _next_version(dal)
    table = dal.packet_ruleset
    if ruleset_id == DEFAULT_RULESET:
        _ruleset_row(dal, DEFAULT_RULESET)
    changed = dal(table.id == ruleset_id).update(version=version, updated_at=utcnow(), **fields)
    if not changed:
        raise NotFound(f"no rule set with id {ruleset_id}")
    return version


# -- reading --------------------------------------------------------------------------------
def current(dal: Any, ruleset_id: int = DEFAULT_RULESET) -> RuleSetState:
    meta = _ruleset_row(dal, ruleset_id)
    return RuleSetState(
        int(meta.version), meta.default_action, list_rules(dal, ruleset_id=ruleset_id)
    )


def version(dal: Any, ruleset_id: int = DEFAULT_RULESET) -> int:
    """The set's version alone (one row): what the publisher reads before deciding whether
    the whole set must be loaded again."""
    return int(_ruleset_row(dal, ruleset_id).version)


def head(dal: Any, ruleset_id: int = DEFAULT_RULESET) -> tuple[int, str, int]:
    """The version, the default action and the number of rules, without reading them."""
    table = dal.packet_ruleset
    found = select_plain(
        dal, table.id == ruleset_id, [table.version, table.default_action], limitby=(0, 1)
    )
    if found:
        version, default_action = found[0]
    else:  # not there (NotFound), or the default set before the schema step made it
        meta = _ruleset_row(dal, ruleset_id)
        version, default_action = meta.version, meta.default_action
    count = dal(in_set(dal.packet_rule, ruleset_id)).count()
    return int(version), default_action, count


def list_rules(
    dal: Any, limitby: tuple[int, int] | None = None, ruleset_id: int = DEFAULT_RULESET
) -> list[dict[str, Any]]:
    """The set's rules in evaluation order; `limitby` (start, stop) reads one page of them."""
    table = dal.packet_rule
    rows = select_plain(
        dal,
        in_set(table, ruleset_id),
        _columns(table),
        orderby=table.position | table.id,
        limitby=limitby,
    )
    return [_rule_json(row) for row in rows]


def _columns(table: Any) -> list[Any]:
    return [table[name] for name in RULE_COLUMNS]


def get_rule(dal: Any, rule_id: str, ruleset_id: int = DEFAULT_RULESET) -> dict[str, Any] | None:
    """The rule, if it belongs to that set (a rule of another set is not found here)."""
    table = dal.packet_rule
    query = (table.rule_id == rule_id) & in_set(table, ruleset_id)
    rows = select_plain(dal, query, _columns(table), limitby=(0, 1))
    return _rule_json(rows[0]) if rows else None


def get_ruleset(dal: Any, ruleset_id: int) -> dict[str, Any] | None:
    table = dal.packet_ruleset
    row = dal(table.id == ruleset_id).select(limitby=(0, 1)).first()
    if row is None and ruleset_id == DEFAULT_RULESET:
        row = _ruleset_row(dal, DEFAULT_RULESET)
    return _ruleset_json(row) if row else None


def _visible(table: Any, ids: set[int] | None) -> Any:
    return table.id > 0 if ids is None else table.id.belongs(sorted(ids))


def list_rulesets(
    dal: Any, ids: set[int] | None = None, limitby: tuple[int, int] | None = None
) -> list[dict[str, Any]]:
    """Rule sets by id; `ids` None = every set, else only those (an empty set: none)."""
    if ids is not None and not ids:
        return []
    table = dal.packet_ruleset
    rows = dal(_visible(table, ids)).select(orderby=table.id, limitby=limitby)
    return [_ruleset_json(row) for row in rows]


def count_rulesets(dal: Any, ids: set[int] | None = None) -> int:
    if ids is not None and not ids:
        return 0
    return dal(_visible(dal.packet_ruleset, ids)).count()


def rule_counts(dal: Any, ruleset_ids: list[int]) -> dict[int, int]:
    """How many rules each of those sets holds (one grouped query)."""
    table = dal.packet_rule
    wanted = set(ruleset_ids)
    query = table.ruleset_id.belongs(sorted(wanted))
    if DEFAULT_RULESET in wanted:
        query |= table.ruleset_id == None  # noqa: E711
    count = table.id.count()
    counts = dict.fromkeys(wanted, 0)
    for row in dal(query).select(table.ruleset_id, count, groupby=table.ruleset_id):
        key = DEFAULT_RULESET if row.packet_rule.ruleset_id is None else row.packet_rule.ruleset_id
        counts[int(key)] = counts.get(int(key), 0) + int(row[count])
    return counts


def sensor_counts(dal: Any, ruleset_ids: list[int]) -> dict[int, int]:
    """How many sensors enforce each of those sets."""
    table = dal.sensor
    count = table.id.count()
    counts = dict.fromkeys(ruleset_ids, 0)
    if not ruleset_ids:
        return counts
    query = table.ruleset_id.belongs(sorted(set(ruleset_ids)))
    for row in dal(query).select(table.ruleset_id, count, groupby=table.ruleset_id):
        counts[int(row.sensor.ruleset_id)] = int(row[count])
    return counts


# -- rules ----------------------------------------------------------------------------------
def create_rule(
    dal: Any, fields: dict[str, Any], ruleset_id: int = DEFAULT_RULESET
) -> tuple[dict[str, Any], int]:
    version = _stamp(dal, ruleset_id)
    table = dal.packet_rule
    highest = table.position.max()
    last = dal(in_set(table, ruleset_id)).select(highest).first()[highest]
    now = utcnow()
    rule_id = uuid.uuid4().hex[:16]
    table.insert(
        rule_id=rule_id,
        position=(last + 1) if last is not None else 0,
        ruleset_id=ruleset_id,
        created_at=now,
        updated_at=now,
        **{name: fields[name] for name in RULE_FIELDS},
    )
    return get_rule(dal, rule_id, ruleset_id) or {}, version


def update_rule(
    dal: Any, rule_id: str, fields: dict[str, Any], ruleset_id: int = DEFAULT_RULESET
) -> int:
    version = _stamp(dal, ruleset_id)
    table = dal.packet_rule
    changed = dal((table.rule_id == rule_id) & in_set(table, ruleset_id)).update(
        updated_at=utcnow(), **{name: fields[name] for name in RULE_FIELDS}
    )
    if not changed:
        raise NotFound(f"no rule with id {rule_id}")
    return version


def delete_rule(dal: Any, rule_id: str, ruleset_id: int = DEFAULT_RULESET) -> int:
    version = _stamp(dal, ruleset_id)
    table = dal.packet_rule
    if not dal((table.rule_id == rule_id) & in_set(table, ruleset_id)).delete():
        raise NotFound(f"no rule with id {rule_id}")
    return version


def reorder(dal: Any, ids: list[str], ruleset_id: int = DEFAULT_RULESET) -> int:
    version = _stamp(dal, ruleset_id)
    table = dal.packet_rule
    for position, rule_id in enumerate(ids):
        dal((table.rule_id == rule_id) & in_set(table, ruleset_id)).update(position=position)
    return version


def set_default_action(dal: Any, action: str, ruleset_id: int = DEFAULT_RULESET) -> int:
    return _stamp(dal, ruleset_id, default_action=action)


# -- rule sets ------------------------------------------------------------------------------
def name_key(name: str) -> str:
    """What two names must not share within one owner: NFKC, case folded (the databases'
    collations differ; this comparison is the same on each)."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def _name_taken(dal: Any, name: str, team_id: int | None, except_id: int | None = None) -> bool:
    table = dal.packet_ruleset
    owner = table.team_id == team_id if team_id is not None else table.team_id == None  # noqa: E711
    # After _stamp (the counter row is held): no other rule-set writer is between this read
    # and the commit. MySQL's REPEATABLE READ would answer from the transaction's first
    # snapshot, so there the read locks (and reads the latest rows).
    rows = dal(owner).select(table.id, table.name, for_update=dal._dbname != "sqlite")
    wanted = name_key(name)
    for row in rows:
        stored = row.name
        if stored is None and row.id == DEFAULT_RULESET:
            stored = DEFAULT_RULESET_NAME
        if row.id != except_id and stored is not None and name_key(stored) == wanted:
            return True
    return False


def create_ruleset(
    dal: Any,
    name: str,
    default_action: str = "allow",
    team_id: int | None = None,
    description: str = "",
) -> dict[str, Any]:
    version = _next_version(dal)
    # The owning team stays until this transaction ends (a DELETE /teams/<id> waits, then
    # finds the set and answers 409 team_in_use), or is gone already: TeamGone, no orphan.
    if team_id is not None and not row_locks.keep(dal, "team", team_id):
        raise TeamGone(team_id)
    if _name_taken(dal, name, team_id):
        raise NameTaken(f"a rule set named {name!r} exists already")
    now = utcnow()
    ruleset_id = dal.packet_ruleset.insert(
        name=name,
        description=description,
        team_id=team_id,
        version=version,
        default_action=default_action,
        created_at=now,
        updated_at=now,
    )
    return get_ruleset(dal, int(ruleset_id)) or {}


def update_ruleset(dal: Any, ruleset_id: int, fields: dict[str, Any]) -> int:
    """Changes the set's name, description and/or default action (a new version)."""
    row = _ruleset_row(dal, ruleset_id)
    changes = {k: fields[k] for k in ("name", "description", "default_action") if k in fields}
    version = _stamp(dal, ruleset_id, **changes)
    if "name" in changes and _name_taken(dal, changes["name"], row.team_id, ruleset_id):
        raise NameTaken(f"a rule set named {changes['name']!r} exists already")
    return version


def delete_ruleset(dal: Any, ruleset_id: int) -> int:
    """Deletes a set that no sensor enforces, with its rules and grants; API keys restricted
    to it are revoked (a set made later could be given the same id). The caller refuses the
    default set.

    The version stamp comes first and updates the set's row, which locks it until the end
    of the transaction: a request attaching a sensor to the set (row_locks.keep on it)
    either committed before, and its sensor is counted here (InUse), or waits and then finds
    the set gone. Rules written meanwhile stamp the set first and wait the same way; a
    grant's row refers to the set through a foreign key, which refuses one made meanwhile."""
    version = _stamp(dal, ruleset_id)
    attached = dal(dal.sensor.ruleset_id == ruleset_id).count()
    if attached:
        raise InUse(attached)
    dal(dal.packet_rule.ruleset_id == ruleset_id).delete()
    dal(dal.ruleset_grant.ruleset_id == ruleset_id).delete()
    keys = dal.api_key
    live = keys.revoked_at == None  # noqa: E711
    dal((keys.ruleset_id == ruleset_id) & live).update(revoked_at=utcnow())
    dal(dal.packet_ruleset.id == ruleset_id).delete()
    return version
