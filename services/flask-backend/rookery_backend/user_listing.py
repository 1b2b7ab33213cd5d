"""One page of the user listing — its users, their roles and the filter's total — in ONE
SQL statement.

The listing is the API's busiest read. Built from PyDAL selects it took four round trips
on PostgreSQL (count, page, roles, and the transaction) and converted each value through a
generic per-value processor; most of a request's time was spent there. This module keeps
PyDAL as the source of the WHERE clause (the filters' SQL, quoting and escaping stay the
dialect's) and the table/column names, and writes the one statement around it:

    SELECT <page columns>, r.name, r.permissions
      FROM (SELECT <columns>, COUNT(*) OVER () AS total
              FROM auth_user WHERE <filters> ORDER BY id LIMIT n OFFSET m) AS p
      LEFT JOIN auth_user_role AS l ON l.user_id = p.c0
      LEFT JOIN auth_role AS r ON r.id = l.role_id
     ORDER BY p.c0

`COUNT(*) OVER ()` is evaluated before LIMIT, so every row carries the filter's total;
window functions exist on every supported database (SQLite ≥ 3.25, PostgreSQL, MariaDB
≥ 10.2). A page past the end has no row to carry the total: only then is it counted
separately.

On PostgreSQL the statement runs as a prepared statement of the connection (PREPARE once,
EXECUTE after): planning the joins and the window was half of the statement's time, and a
page's SQL text repeats exactly (PyDAL writes the filters' values into it), so the server
keeps one plan per distinct page. Only on connections in autocommit (GET requests,
db.py), where a statement that fails leaves no transaction aborted; each connection keeps
at most PREPARED_PER_CONNECTION of them, the oldest deallocated first.
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .db import as_is, column_converter, to_int

PREPARED_PER_CONNECTION = 32
# connection -> {statement text: prepared statement name}, oldest first
_prepared: weakref.WeakKeyDictionary[Any, OrderedDict[str, str]] = weakref.WeakKeyDictionary()
_names = itertools.count(1)

# (column, what the listing calls it); c0 must be the id (the join and the ordering use it)
COLUMNS = (
    "id",
    "email",
    "active",
    "created_at",
    "last_login_at",
    "login_count",
    "tf_primary_method",
    "tf_totp_secret",
)


def _statement(dal: Any, condition: Any, start: int, size: int) -> str:
    user, link, role = dal.auth_user, dal.auth_user_role, dal.auth_role
    columns = ", ".join(f"{user[name].sqlsafe} AS c{i}" for i, name in enumerate(COLUMNS))
    where = dal._adapter.expand(condition)
    page = (
        f"SELECT {columns}, COUNT(*) OVER () AS total FROM {user.sql_shortref} WHERE {where}"
        f" ORDER BY {user.id.sqlsafe} LIMIT {int(size)} OFFSET {int(start)}"
    )
    user_id, role_id = link.user_id._rname, link.role_id._rname
    return (
        f"SELECT p.*, r.{role.name._rname}, r.{role.permissions._rname}"
        f" FROM ({page}) p"
        f" LEFT JOIN {link.sql_shortref} l ON l.{user_id} = p.c0"
        f" LEFT JOIN {role.sql_shortref} r ON r.{role.id._rname} = l.{role_id}"
        " ORDER BY p.c0"
    )


def listed_page(
    dal: Any, condition: Any, start: int, size: int
) -> tuple[list[tuple[dict[str, Any], list[str], set[str]]], int]:
    """([(user columns by name, role names sorted, scopes)], total) for rows start..start+size
    of what `condition` selects on auth_user, ordered by id."""
    user, role = dal.auth_user, dal.auth_role
    adapter = dal._adapter
    # Only the columns whose stored form differs from the listed one are converted: every
    # supported driver already answers integer columns as int (or None).
    converting: list[tuple[int, Callable[[Any], Any]]] = [
        (index, convert)
        for index, convert in enumerate(column_converter(user[name], adapter) for name in COLUMNS)
        if convert is not as_is and convert is not to_int
    ]
    convert_scopes = column_converter(role.permissions, adapter)
    scopes_of: dict[Any, Any] = {}  # a role's stored scopes → decoded, once per page
    width = len(COLUMNS)
    listed: list[tuple[dict[str, Any], list[str], set[str]]] = []
    total: int | None = None
    last_id = None
    names: list[str] = []
    scopes: set[str] = set()
    for record in _run(dal, _statement(dal, condition, start, size)):
        if record[0] != last_id:
            last_id = record[0]
            if total is None:
                total = int(record[width])
            names, scopes = [], set()
            values = list(record[:width])
            for index, convert in converting:
                values[index] = convert(values[index])
            listed.append((dict(zip(COLUMNS, values, strict=True)), names, scopes))
        role_name = record[width + 1]
        if role_name is not None:
            names.append(role_name)
            stored = record[width + 2]
            decoded = scopes_of.get(stored)
            if decoded is None:
                decoded = scopes_of[stored] = tuple(convert_scopes(stored) or ())
            scopes.update(decoded)
    for _values, held, _scopes in listed:
        held.sort()  # as User.role_names: Python's order, not the database collation
    if total is None:
        total = dal(condition).count() if start else 0
    return listed, total


def _run(dal: Any, sql: str) -> list[tuple[Any, ...]]:
    adapter = dal._adapter
    if adapter.dbengine != "postgres":
        return list(dal.executesql(sql))
    connection = adapter.connection
    if not connection.autocommit:
        return list(dal.executesql(sql))
    import psycopg2.errors

    statements = _prepared.setdefault(connection, OrderedDict())
    cursor = adapter.cursor
    name = statements.get(sql)
    if name is not None:
        statements.move_to_end(sql)
        try:
            cursor.execute(f"EXECUTE {name}")
            return cursor.fetchall()
        except psycopg2.errors.InvalidSqlStatementName:
            statements.clear()  # the session lost them (DISCARD ALL by a pooler, ...)
    if len(statements) >= PREPARED_PER_CONNECTION:
        _, oldest = statements.popitem(last=False)
        cursor.execute(f"DEALLOCATE {oldest}")
    name = f"rookery_user_page_{next(_names)}"
    cursor.execute(f"PREPARE {name} AS {sql}")
    statements[sql] = name
    try:
        cursor.execute(f"EXECUTE {name}")
    except psycopg2.errors.InvalidSqlStatementName:
        # Prepared and gone at once: a pooler in transaction mode (PgBouncer) sends each
        # statement to any server connection. Plain statements work there.
        statements.clear()
        return list(dal.executesql(sql))
    return cursor.fetchall()
