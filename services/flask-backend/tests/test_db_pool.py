"""The connection pool's liveness test (db.Database): a pooled connection is tested with
PyDAL's `SELECT 1` only when it sat idle, not on every request."""

from __future__ import annotations

import pytest
from rookery_backend.db import POOL_TEST_AFTER, Database


def test_a_pooled_connection_is_tested_only_after_sitting_idle(make_settings, backend) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has no connection pool (each thread keeps its connection)")
    now = [1000.0]
    database = Database(make_settings(), clock=lambda: now[0])
    adapter = database.dal._adapter
    statements: list[str] = []
    execute = adapter.execute

    def spy(*args, **kwargs):
        statements.append(str(args[0]))
        return execute(*args, **kwargs)

    adapter.execute = spy

    def one_request() -> None:
        database.begin_request()
        assert [tuple(row) for row in database.dal.executesql("SELECT 2")] == [(2,)]
        database.end_request(ok=True)

    one_request()  # puts a connection back in the pool at t=1000
    statements.clear()
    now[0] += POOL_TEST_AFTER / 2
    one_request()  # takes the same connection back at once: no test
    assert statements == ["SELECT 2"]

    statements.clear()
    now[0] += POOL_TEST_AFTER + 1
    one_request()  # idle too long: tested first
    assert sorted(statements) == ["SELECT 1;", "SELECT 2"]
    database.dal.close()


def test_a_read_request_opens_no_transaction_on_postgresql(make_settings, backend) -> None:
    """A safe-method request's connection runs in autocommit on PostgreSQL: its query
    leaves no transaction open (psycopg2 sent no BEGIN) and ending it sends no COMMIT; a
    writing request, on the same pooled connection next, is transactional again."""
    if backend != "postgresql":
        pytest.skip("the autocommit switch is PostgreSQL's (psycopg2's is client-side)")
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INTRANS
    from pydal.connection import ConnectionPool

    database = Database(make_settings())
    dal = database.dal

    def status_after_a_query(read_only: bool) -> int:
        database.begin_request(read_only=read_only)
        try:
            dal.executesql("SELECT count(*) FROM auth_user")
            return dal._adapter.connection.info.transaction_status
        finally:
            database.end_request(ok=True)

    assert status_after_a_query(read_only=True) == TRANSACTION_STATUS_IDLE
    assert status_after_a_query(read_only=False) == TRANSACTION_STATUS_INTRANS
    assert status_after_a_query(read_only=True) == TRANSACTION_STATUS_IDLE
    # a brand-new connection (PyDAL's after-connection hook runs its statements first)
    for connection in ConnectionPool.POOLS.pop(database.uri, []):
        connection.close()
    assert status_after_a_query(read_only=True) == TRANSACTION_STATUS_IDLE
    # outside any request (background loops) connections stay transactional
    dal.executesql("SELECT 1")
    assert dal._adapter.connection.info.transaction_status == TRANSACTION_STATUS_INTRANS
    dal.rollback()
    dal.close()


def test_a_request_reads_what_others_committed_since_its_first_statement(
    app_factory, make_settings
) -> None:
    """Every backend reads at READ COMMITTED: a write request that began before another
    request's commit still sees that commit in its later reads (MariaDB's own default,
    REPEATABLE READ, would keep the snapshot of the first read: an access snapshot loaded
    then would miss a grant just given)."""
    import sqlalchemy as sa
    from rookery_backend.db import sqlalchemy_url

    app = app_factory()
    database = app.extensions["rookery"].database
    other = sa.create_engine(sqlalchemy_url(make_settings()), poolclass=sa.pool.NullPool)
    try:
        database.begin_request(read_only=False)
        dal = database.dal
        before = dal(dal.team).count()  # the request's first read
        with other.begin() as connection:  # another request commits meanwhile
            connection.exec_driver_sql(
                "INSERT INTO team (name, created_at) VALUES ('late', '2026-01-01 00:00:00')"
            )
        assert dal(dal.team).count() == before + 1
        database.end_request(ok=True)
    finally:
        other.dispose()


def _cut_every_other_session(settings) -> int:
    """What a database restart does to the service: the server ends every session of the
    service's database (this one's aside). Returns how many it ended."""
    import sqlalchemy as sa
    from rookery_backend.db import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if settings.db_type == "postgresql":
                rows = connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
                return len(rows)
            ids = [
                row[0]
                for row in connection.exec_driver_sql(
                    "SELECT id FROM information_schema.processlist"
                    " WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
            ]
            for session in ids:
                connection.exec_driver_sql(f"KILL CONNECTION {int(session)}")
            return len(ids)
    finally:
        engine.dispose()


def test_requests_recover_when_the_server_ends_every_session(
    app_factory, make_settings, backend
) -> None:
    """A database restart ends the pooled connections under the app (requests, sign-in
    throttle, lease). The request that meets a dead connection may be refused (503,
    Retry-After), never a 500; the app reconnects and the next ones are served."""
    if backend == "sqlite":
        pytest.skip("SQLite has no server to restart")
    from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api

    api = Api(app_factory().test_client())
    token = api.admin_token()
    assert api.call("GET", "/api/v1/users?per_page=5", token).status_code == 200
    assert _cut_every_other_session(make_settings()) >= 1

    def served(method: str, path: str, **kwargs) -> int:
        """Tries up to three times; every answer is 200 or 503. The attempt that served."""
        for attempt in range(3):
            reply = api.call(method, path, **kwargs)
            assert reply.status_code in (200, 503), (path, reply.status_code, reply.get_json())
            if reply.status_code == 200:
                return attempt
            assert reply.headers.get("Retry-After")
        raise AssertionError(f"{path} was not served again after the sessions ended")

    served("GET", "/api/v1/users?per_page=5", token=token)
    served("POST", "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    # and a write, which goes through the same pool in a transaction
    _cut_every_other_session(make_settings())
    served("PATCH", "/api/v1/auth/me", token=token, json={})
