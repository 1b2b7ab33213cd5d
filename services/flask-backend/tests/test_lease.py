"""The publisher lease on each database: one holder at a time, renewal, take-over after
expiry, release, and the keeper starting and stopping the job. Clocks are injected: time
passes because the test says so."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import settings_for
from rookery_backend.db import sqlalchemy_url
from rookery_backend.lease import Lease, LeaseKeeper


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def engine(backend: str, tmp_path: Path):
    settings = settings_for(backend, tmp_path)
    if backend == "sqlite":
        from rookery_backend.db import create_schema

        create_schema(settings)
    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM service_lease"))
    yield engine
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM service_lease"))
    engine.dispose()


def pair(engine, clock: Clock, ttl: float = 6.0) -> tuple[Lease, Lease]:
    return (
        Lease(engine, "job", ttl, holder="host-a:11:aaaa", clock=clock),
        Lease(engine, "job", ttl, holder="host-b:22:bbbb", clock=clock),
    )


def test_one_holder_at_a_time_and_take_over_after_expiry(engine) -> None:
    clock = Clock()
    a, b = pair(engine, clock)
    assert a.try_acquire()
    assert not b.try_acquire()  # held and not expired
    first = a.read()
    assert first is not None and first.holder == a.holder and first.term == 1
    assert first.pid == 11 and first.live(clock.now)

    clock.advance(5)
    assert a.try_acquire()  # renewal: same holder, same term, later expiry
    renewed = a.read()
    assert renewed.term == 1 and renewed.expires_at > first.expires_at
    clock.advance(5)
    assert not b.try_acquire()  # the renewal counts from its own time

    clock.advance(1.5)  # 6.5 s after the last renewal: expired
    assert b.try_acquire()
    taken = b.read()
    assert taken.holder == b.holder and taken.term == 2
    assert not a.try_acquire()  # the old holder learns it lost


def test_a_report_is_read_only_while_its_holders_lease_lasts(engine) -> None:
    clock = Clock()
    a, b = pair(engine, clock)
    assert a.try_acquire()
    assert a.report('[{"target": "p:1", "applied_version": 4}]')
    assert b.reported() == '[{"target": "p:1", "applied_version": 4}]'
    clock.advance(5)
    assert b.reported() is not None  # still within the 6 s lease
    clock.advance(1.5)  # the holder died without renewing: its report no longer counts
    assert b.reported() is None
    assert not b.report("[]")  # nor can a non-holder write one


def test_release_hands_over_at_once_and_only_by_the_holder(engine) -> None:
    clock = Clock()
    a, b = pair(engine, clock)
    assert a.try_acquire()
    b.release()  # not the holder: changes nothing
    assert a.read().holder == a.holder
    a.release()
    assert b.try_acquire()  # no waiting for the expiry


def test_renewing_twice_within_one_second_still_counts(engine) -> None:
    # MariaDB stores whole seconds; a renewal that changes nothing must still match.
    clock = Clock()
    a, _ = pair(engine, clock)
    assert a.try_acquire() and a.try_acquire() and a.try_acquire()


def test_two_processes_creating_the_row_at_once(engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clock = Clock()
    leases = [Lease(engine, "race", 6.0, holder=f"h:{n}:x", clock=clock) for n in range(6)]
    with ThreadPoolExecutor(6) as pool:
        won = list(pool.map(lambda lease: lease.try_acquire(), leases))
    assert won.count(True) == 1
    with engine.begin() as connection:
        rows = connection.execute(sa.text("SELECT COUNT(*) FROM service_lease")).scalar()
    assert rows == 1


def test_shared_value_is_sealed_and_cleared_on_take_over(engine) -> None:
    clock = Clock()
    a, b = pair(engine, clock)
    assert a.try_acquire()
    assert a.share("rk_abcdefgh_secret", "deployment-secret")
    assert not b.share("rk_other", "deployment-secret")  # only the holder shares
    assert b.shared("deployment-secret") == "rk_abcdefgh_secret"
    assert b.shared("another-secret") is None
    with engine.begin() as connection:
        stored = connection.execute(sa.text("SELECT shared FROM service_lease")).scalar()
    assert "rk_abcdefgh_secret" not in stored
    clock.advance(7)
    assert b.try_acquire()
    assert a.shared("deployment-secret") is None  # the old holder's value is gone


def test_keeper_starts_the_job_renews_and_stops_it_when_taken_over(engine) -> None:
    clock = Clock()
    a, b = pair(engine, clock)
    ticks = [100.0]
    events: list[str] = []
    keeper = LeaseKeeper(
        a, lambda: events.append("start"), lambda: events.append("stop"), lambda: ticks[0]
    )
    keeper.step()
    assert keeper.held and events == ["start"]
    clock.advance(2)
    keeper.step()  # renewed: the job keeps running
    assert events == ["start"]
    # The keeper stalls (say the host is suspended) past the expiry; b takes over.
    clock.advance(7)
    assert b.try_acquire()
    keeper.step()
    assert not keeper.held and events == ["start", "stop"]
    keeper.step()  # still held by b
    assert events == ["start", "stop"]


def test_keeper_gives_the_job_up_when_it_cannot_renew_before_expiry(engine) -> None:
    clock = Clock()
    lease = Lease(engine, "job", 6.0, holder="h:1:x", clock=clock)
    ticks = [100.0]
    events: list[str] = []
    keeper = LeaseKeeper(
        lease, lambda: events.append("start"), lambda: events.append("stop"), lambda: ticks[0]
    )
    keeper.step()
    assert events == ["start"]
    broken = sa.create_engine("sqlite:////nonexistent/dir/db.sqlite", poolclass=sa.pool.NullPool)
    lease.engine = broken  # the database is gone
    ticks[0] += 3
    keeper.step()
    assert keeper.held and events == ["start"]  # still within the confirmed expiry
    ticks[0] += 3.5
    keeper.step()
    assert not keeper.held and events == ["start", "stop"]


def test_keeper_stop_releases(engine) -> None:
    clock = Clock()
    a, b = pair(engine, clock)
    events: list[str] = []
    keeper = LeaseKeeper(a, lambda: events.append("start"), lambda: events.append("stop"))
    keeper.step()
    keeper.stop()
    assert events == ["start", "stop"]
    assert b.try_acquire()


def sensors(*addresses: str) -> Any:
    """The sensor rows an HTTP worker reads: each address a sensor of the default set."""
    from rookery_backend.packet_link.sensors import Sensor

    rows = [Sensor(n, f"s{n}", address, 1) for n, address in enumerate(addresses, start=1)]
    return lambda: rows


def row(sensor_id: int, address: str, **fields: Any) -> dict[str, Any]:
    """A row of the lease holder's report."""
    return {"target": address, "sensor_id": sensor_id, "ruleset_id": 1, **fields}


def test_shared_publisher_view_waits_for_the_holders_report() -> None:
    import json

    from rookery_backend.publisher_share import SharedPublisherView

    reports: list[str | None] = [None, None, json.dumps([row(1, "p:1", applied_version=7)])]
    wanted: list[str] = []
    ticks = [0.0]

    def read() -> str | None:
        return reports.pop(0) if len(reports) > 1 else reports[0]

    def sleep(seconds: float) -> None:
        ticks[0] += seconds

    view = SharedPublisherView(read, wanted.append, sensors("p:1"), lambda: ticks[0], sleep)
    assert view.status(7)["state"] == "pending"  # nobody reported yet
    assert view.status(7)["targets"][0]["last_error"]
    assert view.notify(7, wait=1.0, request_id="req-1")
    assert wanted == ["req-1"] and ticks[0] < 1.0
    assert view.status(7)["state"] == "in_sync"
    assert not view.notify(8, wait=0.5)  # never reported: gives up when the wait is over
    assert wanted[-1] == "version-8" and ticks[0] >= 0.5


def test_shared_publisher_view_counts_a_later_version_as_applied() -> None:
    """A write overtaken while it waits (the holder coalesced it into a later version)
    is applied with that version: the writer is answered at once, not after its wait."""
    import json

    from rookery_backend.publisher_share import SharedPublisherView

    later = json.dumps([row(1, "p:1", applied_version=9), row(2, "p:2", applied_version=8)])
    ticks = [0.0]

    def sleep(seconds: float) -> None:
        ticks[0] += seconds

    view = SharedPublisherView(
        lambda: later, lambda _: None, sensors("p:1", "p:2"), lambda: ticks[0], sleep
    )
    assert view.notify(7, wait=1.0) and ticks[0] == 0.0
    assert view.status(8)["state"] == "in_sync"  # every target runs 8 or later
    assert view.status(9)["state"] == "pending"  # p:2 does not run 9 yet


def test_shared_publisher_view_does_not_wait_when_every_target_is_down() -> None:
    import json

    from rookery_backend.publisher_share import SharedPublisherView

    down = json.dumps([row(1, "p:1", applied_version=1, breaker_state="open")])
    ticks = [0.0]
    view = SharedPublisherView(
        lambda: down, lambda _: None, sensors("p:1"), lambda: ticks[0], lambda s: None
    )
    assert not view.notify(2, wait=5.0) and ticks[0] == 0.0


def test_a_dead_holder_on_this_host_is_replaced_at_once(engine) -> None:
    import subprocess
    import sys

    from rookery_backend.lease import _host

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid now names no process
    clock = Clock()
    crashed = Lease(engine, "job", 6.0, holder=f"{_host()}:{gone.pid}:dead", clock=clock)
    elsewhere = Lease(engine, "job", 6.0, holder=f"other-host/x:{gone.pid}:dead", clock=clock)
    fresh = Lease(engine, "job", 6.0, clock=clock)
    assert crashed.try_acquire()
    assert fresh.try_acquire()  # no waiting for the expiry: that process is gone
    assert fresh.read().term == 2
    clock.advance(7)
    assert elsewhere.try_acquire()
    # A holder on another host is never presumed dead before its expiry.
    assert not fresh.try_acquire()
    assert elsewhere.read().holder == elsewhere.holder
