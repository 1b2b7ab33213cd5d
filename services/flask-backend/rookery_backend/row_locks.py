"""Row locks that keep a referenced row from going away between "does it exist" and the
write that refers to it.

A rule set owned by a team, a sensor enforcing a rule set or owned by a team, a member
holding a custom team role: each of these references is written by one request after it
checked that the referenced row exists, while another request may be deleting that row
after checking that nothing refers to it. Two separate statements on each side: both pass,
and an orphan is left (a rule set of a team that is gone, a sensor enforcing a set that is
gone).

Why row locks and not foreign keys. The references concerned (packet_ruleset.team_id,
sensor.ruleset_id, sensor.team_id, team_member.role) were added to tables that existed
before there were teams and many rule sets, as plain integer columns (db.create_schema adds
nullable columns, nothing more). A foreign key on them would need, on SQLite, the whole
table rebuilt (SQLite has no ALTER TABLE ADD CONSTRAINT: create a copy with the constraint,
copy the rows, drop, rename, with PRAGMA foreign_keys off meanwhile) on every existing
deployment, and a decision on what to do with orphan rows an older release already left
(the constraint cannot be added while one exists). team_member.role names either a built-in
role (not a row) or a custom one by name: no foreign key can say that. And a foreign key
answers the loser with a driver error that each view would have to tell apart from a
unique violation, or the delete of a team that still owns a rule set would fail with a
constraint error where the API documents 409 team_in_use. Locks keep the documented answers
exactly: whoever takes the row first wins, the other request sees the outcome afterwards.

- `keep(dal, table, id)`: the writer of a reference. PostgreSQL: SELECT ... FOR SHARE;
  MariaDB/MySQL: SELECT ... LOCK IN SHARE MODE (several writers keep one row at once; a
  deleter waits for all of them). Answers whether the row is there: a row deleted by a
  transaction that committed while we waited is not (both servers read the latest committed
  row for a locking read; MariaDB's connections also run at READ COMMITTED, db.py).
- `take(dal, table, id)`: the deleter. SELECT ... FOR UPDATE: it waits for every keeper,
  and every later keeper waits for it; what it counts after (the rule sets a team still
  owns) includes whatever a keeper wrote before it committed.
- SQLite serialises writers with one database-wide lock, which Python's sqlite3 takes only
  at a transaction's first write (its implicit BEGIN is deferred): a check made before that
  is not protected. Both calls there begin the transaction with BEGIN IMMEDIATE (the write
  lock, waiting up to the busy timeout) when none is open; an open one already holds the
  lock (sqlite3 opens one only before a write). The check after it reads the latest data.

Lock order, so that no two requests wait for each other: the rule-set version counter
(rules/store.py) first when a writer takes it, then rule sets, then teams, then team roles.

Pairs and who holds which lock (deleter: take; writer of the reference: keep):
- team deleted (DELETE /teams/<id>) / rule set created for it (store.create_ruleset), sensor
  registered or moved to it (POST, PATCH /sensors): take("team") in teams.delete_team
  before its counts; keep("team") in the writers.
- rule set deleted (store.delete_ruleset: its version stamp updates the row, which locks
  it) / sensor attached to it (POST, PATCH /sensors with ruleset_id): keep("packet_ruleset").
- team deleted / member added, grant to the team; rule set deleted / grant on it: the
  foreign keys of team_member and ruleset_grant (tables created whole, with them) already
  refuse an orphan; keep() in add_member and create_grant turns the refusal (an
  IntegrityError) into the 404 the view gives for a missing team or rule set.
- custom team role deleted (DELETE /team-roles/<id>) / given to a member (POST, PATCH
  /teams/<id>/members): take_team_role in the deleter before counting its holders,
  keep_team_role in the writers.
"""

from __future__ import annotations

from typing import Any

# The tables whose rows these locks protect (an allow-list: the name goes into the SQL).
LOCKABLE = frozenset({"team", "packet_ruleset", "team_role", "auth_user"})


def _begin_write(dal: Any) -> None:
    """SQLite: hold the database's write lock from here to the end of the transaction."""
    connection = dal._adapter.connection
    if not connection.in_transaction:
        dal._adapter.execute("BEGIN IMMEDIATE")


def _locked(dal: Any, table: str, column: str, value: Any, mode: str) -> bool:
    if table not in LOCKABLE or column not in ("id", "name"):
        raise ValueError(f"no row lock for {table}.{column}")
    if column == "id" and not 0 < value < 2**63:
        return False  # no such row can exist (and the drivers refuse a number that large)
    adapter = dal._adapter
    backend = dal._dbname.split(":")[0]  # "postgres:psycopg2" for PostgreSQL
    if backend == "sqlite":
        _begin_write(dal)
        suffix = ""
    elif backend == "postgres":
        suffix = " FOR UPDATE" if mode == "update" else " FOR SHARE"
    else:  # mysql (MariaDB)
        suffix = " FOR UPDATE" if mode == "update" else " LOCK IN SHARE MODE"
    placeholder = "?" if backend == "sqlite" else "%s"
    # Every column: InnoDB answers `SELECT id ... WHERE name = ?` from the unique index on
    # name alone and then share-locks only that index entry, which does not conflict with a
    # FOR UPDATE through the primary key. Reading the row locks the row itself.
    adapter.execute(f"SELECT * FROM {table} WHERE {column} = {placeholder}{suffix}", (value,))
    return adapter.cursor.fetchone() is not None


def keep(dal: Any, table: str, row_id: int) -> bool:
    """Keeps row `row_id` of `table` from being deleted until this transaction ends (others
    may keep it too); False when it is not there (any more)."""
    return _locked(dal, table, "id", int(row_id), "share")


def take(dal: Any, table: str, row_id: int) -> bool:
    """Locks row `row_id` of `table` for deleting it: waits for every transaction keeping it,
    and keeps every later keeper waiting until this one ends; False when it is not there."""
    return _locked(dal, table, "id", int(row_id), "update")


def keep_team_role(dal: Any, name: str) -> bool:
    """keep() for a custom team role named `name` (built-in roles are no rows)."""
    return _locked(dal, "team_role", "name", str(name), "share")


def take_team_role(dal: Any, role_id: int) -> bool:
    return take(dal, "team_role", role_id)
