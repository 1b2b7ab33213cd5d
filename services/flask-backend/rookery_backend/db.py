"""The database: URIs, start-up wait with backoff, schema creation, and the PyDAL handle
whose connection lives for one request (commit on success, rollback on error, then
returned to the pool)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import sqlalchemy as sa
from pydal import DAL
from pydal._globals import THREAD_LOCAL
from pydal.connection import ConnectionPool
from pydal.helpers.methods import UNIT_SEPARATOR, bar_decode_string

from . import migrations
from .config import Settings
from .tables import define_pydal_tables, sqlalchemy_metadata

log = logging.getLogger("rookery.db")


# A pooled connection idle longer than this is tested (SELECT 1) before a request uses it.
POOL_TEST_AFTER = 2.0


class DatabaseUnavailable(RuntimeError):
    """The database did not answer within DB_MAX_RETRIES attempts."""


def unique_violation(error: BaseException) -> bool:
    """An insert or update refused by a unique index. The drivers' IntegrityError classes
    differ (sqlite3, psycopg2, pymysql), and psycopg2 raises a subclass of its own
    (errors.UniqueViolation)."""
    return any(kind.__name__ == "IntegrityError" for kind in type(error).__mro__)


def pydal_uri(settings: Settings) -> str:
    if settings.db_type == "sqlite":
        return f"sqlite://{settings.data_dir / 'rookery.sqlite'}"
    credentials = f"{settings.db_user}:{settings.db_pass}"
    where = f"{settings.db_host}:{settings.db_port}/{settings.db_name}"
    if settings.db_type == "postgresql":
        return f"postgres:psycopg2://{credentials}@{where}"
    return f"mysql://{credentials}@{where}?set_encoding=utf8mb4"


def sqlalchemy_url(settings: Settings) -> str:
    if settings.db_type == "sqlite":
        return f"sqlite:///{settings.data_dir / 'rookery.sqlite'}"
    credentials = f"{quote_plus(settings.db_user)}:{quote_plus(settings.db_pass)}"
    where = f"{settings.db_host}:{settings.db_port}/{settings.db_name}"
    if settings.db_type == "postgresql":
        return f"postgresql+psycopg2://{credentials}@{where}"
    return f"mysql+pymysql://{credentials}@{where}?charset=utf8mb4"


def wait_for_database(settings: Settings) -> None:
    """Try to connect with exponential backoff; raise DatabaseUnavailable after the last try."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    delay = max(settings.db_retry_delay, 0.01)
    attempts = settings.db_max_retries + 1
    try:
        for attempt in range(1, attempts + 1):
            try:
                with engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
                log.info("database answered", extra={"attempt": attempt, "db": settings.db_type})
                return
            except sa.exc.SQLAlchemyError as error:
                reason = str(error.orig if hasattr(error, "orig") else error).splitlines()[0]
                log.warning(
                    "database not reachable",
                    extra={"attempt": attempt, "of": attempts, "error": reason},
                )
                if attempt == attempts:
                    raise DatabaseUnavailable(
                        f"{settings.db_type} database at {settings.db_host}:{settings.db_port}"
                        f" did not answer after {attempts} attempts: {reason}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
    finally:
        engine.dispose()


def create_schema(settings: Settings) -> None:
    """SQLAlchemy creates every missing table, and adds the nullable columns a newer
    release defines on a table an older one created (nothing else is ever altered); then
    the data migrations run (migrations.py: idempotent, safe in replicas starting together).
    The steps take turns on one pooled connection: each of them connecting anew (a
    reflection per table) cost about 30 connections per start, each 55 ms of CPU with
    PyMySQL, which builds a TLS context for every connection it opens."""
    engine = sa.create_engine(sqlalchemy_url(settings), pool_size=1)
    try:
        metadata = sqlalchemy_metadata()
        metadata.create_all(engine, checkfirst=True)
        _add_missing_columns(engine, metadata)
        migrations.migrate(engine, metadata)
        if settings.db_type == "sqlite":
            # Write-ahead logging (a property of the file, kept across opens): readers in
            # other worker threads do not block a writer, nor it them.
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        engine.dispose()


def _add_missing_columns(engine: sa.Engine, metadata: sa.MetaData) -> None:
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable or column.unique:
                log.error(
                    "table lacks a required column; migrate it by hand",
                    extra={"table": table.name, "column": column.name},
                )
                continue
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"
                )
            log.warning("added a column", extra={"table": table.name, "column": column.name})


def drop_schema(settings: Settings) -> None:
    """Drop every table (tests use it to start from a clean schema)."""
    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    try:
        sqlalchemy_metadata().drop_all(engine, checkfirst=True)
    finally:
        engine.dispose()


def _read_committed(adapter: Any) -> None:
    """MariaDB/MySQL connections read at READ COMMITTED, PostgreSQL's default: under their
    own default (REPEATABLE READ) a request keeps reading the snapshot of its first
    statement, so one that began before another request's commit could load the access
    snapshot without that commit (a grant just given) after the cache was cleared for it,
    and serve the stale copy for its lifetime."""
    adapter.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")


class Database:
    """One PyDAL handle shared by every thread; each thread gets its own connection lazily
    (PyDAL keeps connections in thread-local storage) and gives it back in end_request."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.uri = pydal_uri(settings)
        folder = settings.data_dir / "pydal"
        folder.mkdir(parents=True, exist_ok=True)
        pool_size = 0 if settings.db_type == "sqlite" else settings.db_pool_size
        self.pool_size = pool_size
        self.dal = DAL(
            self.uri,
            pool_size=pool_size,
            folder=str(folder),
            migrate=False,
            check_reserved=None,
            attempts=1,
            after_connection=_read_committed if settings.db_type == "mysql" else None,
        )
        define_pydal_tables(self.dal)
        # PyDAL's default TimingHandler times every statement and keeps each thread's last
        # 100 SQL texts (an object built per statement); nothing here reads them.
        self.dal._adapter.execution_handlers = []
        # id(connection) -> when end_request put it back in the pool (see _test_when_idle)
        self._returned_at: dict[int, float] = {}
        if pool_size:
            self._test_when_idle(self.dal._adapter)
        self._active = 0
        self._active_lock = threading.Lock()
        self.end_request(ok=True)

    def begin_request(self, read_only: bool = False) -> None:
        """`read_only`: a safe-method request (GET, HEAD). On PostgreSQL its connection runs
        in autocommit, where psycopg2 sends no BEGIN before the first statement and the
        COMMIT at the end has nothing to do: two round trips of a one-query read saved.
        Under READ COMMITTED each statement sees its own snapshot inside a transaction
        too, so a read loses no consistency; the few writes a GET makes (a key's last-use
        stamp, an audit row) are single statements that commit on their own."""
        THREAD_LOCAL.rookery_read_only = read_only
        with self._active_lock:
            self._active += 1

    def end_request(self, ok: bool) -> None:
        """Commit (or roll back) and hand the connection back to the pool.

        SQLite has no server and no pool: each worker thread keeps its own connection open
        (reopening it per request costs more than the query), so only the transaction ends,
        when one is open.
        """
        try:
            if self.settings.db_type == "sqlite":
                # Python's sqlite3 opens a transaction only before a write: a request that
                # wrote nothing has nothing to end (no commit call, no lock taken).
                if self.dal._adapter.connection.in_transaction:
                    if ok:
                        self.dal.commit()
                    else:
                        self.dal.rollback()
                else:
                    self._forget_aliases()
            else:
                # A request that ran no query holds no connection: PyDAL returns at once.
                adapter = self.dal._adapter
                held = getattr(THREAD_LOCAL, adapter._connection_uname_, None)
                self.dal.recycle_connection_in_pool_or_close("commit" if ok else "rollback")
                if held is not None and self.pool_size:
                    # Kept or closed: a closed one's id could only come back on a new
                    # connection, which was tested when it was made.
                    if len(self._returned_at) > 4 * self.pool_size + 64:
                        self._returned_at.clear()
                    self._returned_at[id(held)] = self.clock()
        finally:
            THREAD_LOCAL.rookery_read_only = False
            with self._active_lock:
                self._active = max(0, self._active - 1)

    def _test_when_idle(self, adapter: Any) -> None:
        """PyDAL tests every connection it takes from the pool with a `SELECT 1` round trip.
        Keep that test for connections that sat idle (a server restart or an idle timeout
        shows there) and skip it for one put back less than POOL_TEST_AFTER seconds ago,
        which under load is every one. Should a connection die inside that window anyway,
        its request answers the API's 503 database_unavailable and PyDAL drops it."""
        test = adapter.test_connection
        returned = self._returned_at
        clock = self.clock
        # psycopg2's autocommit is a client-side switch (no round trip); pymysql's is a
        # statement, so MariaDB keeps its transactions.
        switch_autocommit = self.settings.db_type == "postgresql"

        def test_connection() -> None:
            # set_connection has made it this thread's connection before testing it; every
            # connection a thread takes (pooled or new) passes here.
            connection = getattr(THREAD_LOCAL, adapter._connection_uname_, None)
            if switch_autocommit and connection is not None:
                wanted = getattr(THREAD_LOCAL, "rookery_read_only", False)
                if connection.autocommit != wanted:
                    if connection.info.transaction_status != 0:  # not idle
                        # a new connection: PyDAL's after-connection hook ran its SETs
                        connection.commit()
                    connection.autocommit = wanted
            at = returned.pop(id(connection), None)
            if at is None or clock() - at > POOL_TEST_AFTER:
                test()

        adapter.test_connection = test_connection

    def _forget_aliases(self) -> None:
        # What DAL.commit/rollback do besides ending the transaction: drop this thread's
        # table aliases (with_alias) so none outlives the request.
        object.__getattribute__(self.dal, "_aliased_tables").__dict__.clear()

    def ping(self) -> bool:
        try:
            self.dal.executesql("SELECT 1")
            return True
        except Exception as error:  # the driver's own error classes vary by backend
            log.warning("database ping failed", extra={"error": str(error)})
            self.dal.recycle_connection_in_pool_or_close("rollback")
            return False

    def pool_stats(self) -> dict[str, int]:
        idle = len(ConnectionPool.POOLS.get(self.uri, []))
        return {"size": self.pool_size, "idle": idle, "in_use": self._active}


# -- plain rows -------------------------------------------------------------------------
# PyDAL's own parser builds a Row of Rows per record and dispatches every value through its
# type registry; for a listing of many rows that is most of the request. `select_plain`
# keeps PyDAL as the query builder (same SQL, same dialects) and only swaps the row
# processor for one that turns each record into a tuple, converting the few column kinds
# tables.py uses the way PyDAL's parsers do.


def as_is(value: Any) -> Any:
    return value


def to_int(value: Any) -> Any:
    return None if value is None else int(value)


def _to_bool(value: Any) -> Any:
    # PyDAL's boolean parser: 'T' (CHAR(1), tables.py), a driver True, or text from 't'.
    if value is None:
        return None
    return value == "T" or str(value)[:1].lower() == "t"


def _decode_list(value: Any) -> Any:
    """A list:string column's value, as PyDAL's bar_decode_string reads it: "|a|b|", where
    a "|" inside an item is written "||" (and an item starting or ending with one gets a
    unit separator). An encoding with neither (every rule's ports and addresses) is a
    plain split, several times faster than PyDAL's regular expression."""
    if value is None:
        return None
    if not isinstance(value, str):
        return list(value)
    inner = value[1:-1]
    if "||" in inner or UNIT_SEPARATOR in inner:
        return bar_decode_string(value)
    return [item for item in inner.split("|") if item.strip()]


def _datetime_converter(adapter: Any) -> Callable[[Any], Any]:
    pydal_parse = adapter.parser.registered["datetime"]

    def convert(value: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if isinstance(value, str) and len(value) == 19:
            # How PyDAL writes them on SQLite: 'YYYY-MM-DD HH:MM:SS'.
            return datetime.fromisoformat(value)
        return pydal_parse(value, "datetime")  # anything else: PyDAL's own reading

    return convert


def column_converter(field: Any, adapter: Any) -> Callable[[Any], Any]:
    kind = getattr(field, "type", None)
    if not isinstance(kind, str):
        return as_is
    if kind in ("id", "integer", "bigint") or kind.startswith("reference"):
        return to_int
    if kind == "boolean":
        return _to_bool
    if kind == "datetime":
        return _datetime_converter(adapter)
    if kind == "list:string":
        return _decode_list
    if kind in ("string", "text"):
        return as_is
    raise TypeError(f"select_plain does not read {kind} columns")


def select_plain(dal: Any, query: Any, fields: Sequence[Any], **attributes: Any) -> list[tuple]:
    """`dal(query).select(*fields, **attributes)` as a list of plain tuples in field order."""
    adapter = dal._adapter
    # Only the columns whose stored form differs from the read one are converted (a call
    # per value was most of a listing's time): every supported driver already answers
    # integer columns as int (or None), and text as str.
    converting = [
        (index, convert)
        for index, convert in enumerate(column_converter(field, adapter) for field in fields)
        if convert is not as_is and convert is not to_int
    ]

    def processor(rows: Any, _fields: Any, _colnames: Any, **_: Any) -> list[tuple]:
        if not converting:
            return [tuple(row) for row in rows]
        plain = []
        for row in rows:
            values = list(row)
            for index, convert in converting:
                values[index] = convert(values[index])
            plain.append(tuple(values))
        return plain

    return dal(query).select(*fields, processor=processor, **attributes)
