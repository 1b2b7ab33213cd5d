"""Data migrations, run by db.create_schema once every table and column exists.

Every step is idempotent (running it again changes nothing) and safe when several processes
run it at once (replicas starting together): inserts that may race are made in their own
transaction (or savepoint) and a lost race is taken for the work done; the rest runs in one
transaction holding row 1 of packet_ruleset, so two processes take turns.

From one rule set to many (docs/RULESETS.md, "Upgrading"):
- row 1 of packet_ruleset is the default set: created when missing, named "default" when its
  name is NULL (it had none), given a creation time when it has none;
- rules written before there were several sets (packet_rule.ruleset_id NULL) belong to it:
  their ruleset_id becomes 1 (the store reads NULL as 1 too, for rows a process of the
  previous release may still write during a rolling upgrade);
- the deployment-wide version counter `ruleset_version` starts at the highest version any set
  holds (and is brought up to it should it lag), so versions keep growing;
- on PostgreSQL the id sequence of packet_ruleset is moved past row 1 (the previous release
  inserted it with an explicit id, which a sequence does not see: the next set created would
  have been given id 1 again);
- indexes the table specs declare on columns added to existing tables are created; before a
  unique index over several columns (tables.py, `unique_together`) is created on an existing
  table, rows duplicating an older one in those columns are deleted (the oldest stays: the
  application refused the second before, so a duplicate is a lost race's leftover).

Rows referring to a row that is gone (an orphan: a rule set of a deleted team, a sensor
enforcing a deleted set or owned by a deleted team, a member holding a deleted custom team
role, an unrevoked API key restricted to a deleted team or set), which a deletion racing
the write that referred to it could leave before writers and deleters took row locks
(row_locks.py), are reported at every start (a warning per reference, with the first ids)
and kept: which set a sensor should enforce instead, or whether a rule set should go with
its team, is the operator's call (PATCH or DELETE them through the API, which works on
them as on any other row). Nothing refuses to start over them. No foreign key is added
to those columns (row_locks.py says why), so none can fail on them either.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from .policy import TEAM_ROLES
from .utils import utcnow

log = logging.getLogger("rookery.db")

DEFAULT_RULESET = 1  # rules/store.py's; not imported (that module builds on PyDAL)
DEFAULT_RULESET_NAME = "default"
VERSION_COUNTER = "ruleset_version"


def migrate(engine: sa.Engine, metadata: sa.MetaData) -> None:
    _create_missing_indexes(engine, metadata)
    _ensure_default_ruleset(engine)
    with engine.begin() as connection:
        _many_rulesets(connection)
    if engine.dialect.name == "postgresql":
        _advance_sequence(engine, "packet_ruleset")
    report_orphans(engine)


BUILTIN_TEAM_ROLES = tuple(sorted(TEAM_ROLES))  # no rows: never orphans

# reference -> the ids of the rows referring to a row that is not there
ORPHANS: dict[str, str] = {
    "packet_ruleset.team_id": "SELECT r.id FROM packet_ruleset r WHERE r.team_id IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM team t WHERE t.id = r.team_id)",
    "sensor.ruleset_id": f"SELECT s.id FROM sensor s WHERE s.ruleset_id <> {DEFAULT_RULESET}"
    " AND NOT EXISTS (SELECT 1 FROM packet_ruleset r WHERE r.id = s.ruleset_id)",
    "sensor.team_id": "SELECT s.id FROM sensor s WHERE s.team_id IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM team t WHERE t.id = s.team_id)",
    "packet_rule.ruleset_id": "SELECT p.id FROM packet_rule p"
    f" WHERE p.ruleset_id <> {DEFAULT_RULESET}"
    " AND NOT EXISTS (SELECT 1 FROM packet_ruleset r WHERE r.id = p.ruleset_id)",
    "team_member.role": "SELECT m.id FROM team_member m WHERE m.role NOT IN"
    f" ({', '.join(repr(r) for r in BUILTIN_TEAM_ROLES)})"
    " AND NOT EXISTS (SELECT 1 FROM team_role r WHERE r.name = m.role)",
    "api_key.team_id": "SELECT k.id FROM api_key k WHERE k.team_id IS NOT NULL"
    " AND k.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM team t WHERE t.id = k.team_id)",
    "api_key.ruleset_id": "SELECT k.id FROM api_key k WHERE k.ruleset_id IS NOT NULL"
    " AND k.revoked_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM packet_ruleset r WHERE r.id = k.ruleset_id)",
}


def report_orphans(engine: sa.Engine) -> dict[str, list[int]]:
    """The orphan rows (module docstring), each reference with its rows' ids; a warning
    for each reference that has some. Reads only."""
    found: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for reference, query in ORPHANS.items():
            ids = [int(row[0]) for row in connection.exec_driver_sql(query)]
            if ids:
                found[reference] = ids
                log.warning(
                    "rows refer to rows that are gone; kept: move or delete them",
                    extra={"reference": reference, "rows": len(ids), "ids": ids[:20]},
                )
    return found


def _create_missing_indexes(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """create_all makes a table's indexes with the table; a column added later
    (db._add_missing_columns) gets its index here."""
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        if not table.indexes:
            continue
        present = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name in present:
                continue
            if index.unique and len(index.columns) > 1:
                _drop_duplicates(engine, table, [column.name for column in index.columns])
            try:
                index.create(engine)
                log.warning("created an index", extra={"table": table.name, "index": index.name})
            except sa.exc.DBAPIError:
                # Another process created it first; anything else shows when we look again.
                again = {i["name"] for i in sa.inspect(engine).get_indexes(table.name)}
                if index.name not in again:
                    raise


def _drop_duplicates(engine: sa.Engine, table: sa.Table, columns: list[str]) -> None:
    """Deletes the rows that repeat an older row's values in `columns` (rows with a NULL
    there are never duplicates). The kept ids are read through a derived table: MariaDB
    refuses a DELETE whose subquery reads the table it deletes from."""
    filled = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    group = ", ".join(columns)
    statement = (
        f"DELETE FROM {table.name} WHERE {filled} AND id NOT IN "
        f"(SELECT keep FROM (SELECT MIN(id) AS keep FROM {table.name} WHERE {filled} "
        f"GROUP BY {group}) AS kept)"
    )
    with engine.begin() as connection:
        removed = connection.exec_driver_sql(statement).rowcount
    if removed:
        log.warning(
            "removed duplicate rows before adding a unique index",
            extra={"table": table.name, "columns": group, "rows": removed},
        )


def _ensure_default_ruleset(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT id FROM packet_ruleset WHERE id = :id"), {"id": DEFAULT_RULESET}
        ).first()
    if found is not None:
        return
    now = utcnow()
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO packet_ruleset"
                    " (id, version, default_action, name, created_at, updated_at)"
                    " VALUES (:id, 0, 'allow', :name, :now, :now)"
                ),
                {"id": DEFAULT_RULESET, "name": DEFAULT_RULESET_NAME, "now": now},
            )
    except sa.exc.IntegrityError:
        pass  # another process inserted it first


def _many_rulesets(connection: sa.Connection) -> None:
    lock = "" if connection.dialect.name == "sqlite" else " FOR UPDATE"
    # Holds row 1 until the end of this transaction: a second process waits here, then
    # finds the work done. (SQLite: the first write below takes the database's write lock.)
    connection.execute(
        sa.text(f"SELECT id FROM packet_ruleset WHERE id = :id{lock}"), {"id": DEFAULT_RULESET}
    )
    named = connection.execute(
        sa.text("UPDATE packet_ruleset SET name = :name WHERE id = :id AND name IS NULL"),
        {"name": DEFAULT_RULESET_NAME, "id": DEFAULT_RULESET},
    ).rowcount
    connection.execute(
        sa.text(
            "UPDATE packet_ruleset SET created_at = COALESCE(updated_at, :now)"
            " WHERE created_at IS NULL"
        ),
        {"now": utcnow()},
    )
    moved = connection.execute(
        sa.text("UPDATE packet_rule SET ruleset_id = :id WHERE ruleset_id IS NULL"),
        {"id": DEFAULT_RULESET},
    ).rowcount
    highest = connection.execute(
        sa.text("SELECT COALESCE(MAX(version), 0) FROM packet_ruleset")
    ).scalar_one()
    counter = connection.execute(
        sa.text(f"SELECT value FROM counter WHERE name = :name{lock}"), {"name": VERSION_COUNTER}
    ).first()
    if counter is None:
        try:
            with connection.begin_nested():
                connection.execute(
                    sa.text("INSERT INTO counter (name, value) VALUES (:name, :value)"),
                    {"name": VERSION_COUNTER, "value": int(highest)},
                )
        except sa.exc.IntegrityError:
            counter = (0,)  # inserted meanwhile by a process not holding row 1: catch up
    if counter is not None and int(counter[0]) < int(highest):
        connection.execute(
            sa.text("UPDATE counter SET value = :value WHERE name = :name AND value < :value"),
            {"name": VERSION_COUNTER, "value": int(highest)},
        )
    if named or moved:
        log.warning(
            "rule sets: the default set is row 1",
            extra={"named": bool(named), "rules_moved": moved, "version": int(highest)},
        )


def _advance_sequence(engine: sa.Engine, table: str) -> None:
    with engine.begin() as connection:
        sequence = connection.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
        ).scalar()
        if not sequence:
            return
        highest = connection.execute(sa.text(f"SELECT MAX(id) FROM {table}")).scalar()
        last, called = connection.execute(
            sa.text(f"SELECT last_value, is_called FROM {sequence}")
        ).one()
        # nextval answers last_value + 1 once called, last_value before: move it forward only.
        if highest is not None and (last < highest or (last == highest and not called)):
            connection.execute(
                sa.text("SELECT setval(:seq, :value)"), {"seq": sequence, "value": highest}
            )
