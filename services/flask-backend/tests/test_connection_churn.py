"""The side engines (the publisher lease's, the login throttle's) keep their connections:
many threads at once wait for one of the pooled two instead of opening a connection that
the pool closes again on return — on PostgreSQL a server process forked per statement."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from rookery_backend.db import sqlalchemy_url
from rookery_backend.lease import PUBLISHER_LEASE, Lease, lease_engine
from rookery_backend.publisher_share import engine_sensors
from rookery_backend.ratelimit import DatabaseThrottleStore, throttle_engine

THREADS = 8
ROUNDS = 25


def _connects(engine: sa.Engine) -> list[int]:
    opened: list[int] = []
    sa.event.listen(engine, "connect", lambda *_: opened.append(1))
    return opened


def _at_once(work: Callable[[int], Any]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(index: int) -> None:
        start.wait()
        try:
            for _ in range(ROUNDS):
                work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.fixture
def served_settings(app_factory, backend):
    if backend == "sqlite":
        pytest.skip("SQLite connections are per thread, opened once (no server process)")
    return app_factory().extensions["rookery"].settings


def test_the_lease_engine_keeps_two_connections_under_many_threads(served_settings) -> None:
    engine = lease_engine(served_settings)
    opened = _connects(engine)
    lease = Lease(engine, PUBLISHER_LEASE, served_settings.publisher_lease_ttl)
    # what HTTP workers' view threads do: the holder's report, the sensors, `wanted`
    errors = _at_once(lambda i: (lease.reported(), engine_sensors(engine), lease.want(f"req-{i}")))
    engine.dispose()
    assert not errors, errors[:3]
    assert len(opened) <= 2, f"{len(opened)} connections opened for {THREADS * ROUNDS} looks"


def test_the_throttle_engine_keeps_two_connections_under_many_threads(served_settings) -> None:
    engine = throttle_engine(sqlalchemy_url(served_settings), sqlite=False)
    opened = _connects(engine)
    store = DatabaseThrottleStore(engine)
    errors = _at_once(lambda i: store.hit((f"churn:{i}",), (10_000,), 1000.0 + i, 60.0))
    engine.dispose()
    assert not errors, errors[:3]
    assert len(opened) <= 2, f"{len(opened)} connections opened for {THREADS * ROUNDS} logins"
