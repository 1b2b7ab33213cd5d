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
