"""The rule publisher seen from processes that do not run it.

One process of the deployment holds the publisher lease and runs the RulePublisher
(server.py). A rule written through any other worker or replica reaches it through the
database:

- every HTTP worker's `packet_link.publisher` is a `SharedPublisherView`: `notify()`
  (after a write) leaves the write's request id in the lease row (`wanted`), then polls
  the reported status until every sensor attached to the written rule set reports the
  version or the wait is over; `status()` (GET /rules/status) answers from that status,
  for the sensors the database attaches to the set now; `sensors_changed()` (a sensor
  added, moved or removed) leaves a mark in `wanted` too;
- the holder's `PublisherReporter` reads the rule sets' versions, the sensor rows and
  `wanted` every POLL seconds and wakes its publisher when any moved (the request id
  travels on to packet-service as before), then writes the publisher's per-sensor status
  (JSON) into the lease row whenever it changed."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from rookery_common.background import BackgroundLoop

from .lease import Lease
from .packet_link.rule_publisher import applied, status_answer
from .packet_link.sensors import DEFAULT_RULESET, Sensor

log = logging.getLogger("rookery.rules")
# Seconds between the holder's looks at the rule-set versions and the sensors: a write
# through another worker waits about this long before its publish starts (three small
# reads per look).
POLL = 0.05
# While no sensor exists there is nothing to publish: the holder looks that much less often
# (a first sensor is published to within about this long).
IDLE_POLL = 0.5
# Up to this long the holder's step waits for the publish it asked for, so its status is
# reported the moment it lands instead of one POLL later.
REPORT_WAIT = 1.0
VIEW_POLL = 0.05  # seconds between a waiting writer's looks at the reported status
MOMENTS = ("last_publish_at", "last_contact_at")
NO_HOLDER = "no process holds the publisher lease yet"
NOT_YET = "the publisher has not published this rule set to this sensor yet"

_METADATA = sa.MetaData()
RULESET = sa.Table(
    "packet_ruleset",
    _METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer),
)
SENSOR = sa.Table(
    "sensor",
    _METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64)),
    sa.Column("address", sa.String(255)),
    sa.Column("ruleset_id", sa.Integer),
    sa.Column("team_id", sa.Integer),
)


def engine_sensors(engine: sa.Engine) -> list[Sensor]:
    """The sensor rows through `engine` (its own short transaction, outside any request)."""
    with engine.begin() as connection:
        return connection_sensors(connection)


def connection_sensors(connection: sa.Connection) -> list[Sensor]:
    rows = connection.execute(sa.select(SENSOR).order_by(SENSOR.c.id)).all()
    return [
        Sensor(int(r.id), r.name, r.address, int(r.ruleset_id), r.team_id and int(r.team_id))
        for r in rows
    ]


def _encode(targets: list[dict[str, Any]]) -> str:
    rows = []
    for target in targets:
        row = dict(target)
        for moment in MOMENTS:
            if isinstance(row.get(moment), datetime):
                row[moment] = row[moment].timestamp()
        rows.append(row)
    return json.dumps(rows, sort_keys=True)


class PublisherReporter:
    """Runs in the lease holder next to its RulePublisher. `first_sensor` runs once, in the
    step that first sees a sensor (the holder provisions the publishing account's key then,
    not before: a deployment without sensors has no use for it)."""

    def __init__(
        self,
        publisher: Any,
        lease: Lease,
        engine: sa.Engine,
        first_sensor: Callable[[], None] | None = None,
    ) -> None:
        self.publisher = publisher
        self.lease = lease
        self.engine = engine
        self._first_sensor = first_sensor
        self._seen_versions: dict[int, int] | None = None
        self._seen_sensors: list[Sensor] | None = None
        self._seen_wanted: str | None = None
        self._reported: str | None = None
        self._loop = BackgroundLoop("publisher-report", POLL, self.step, log=log)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def step(self) -> None:
        # One connection and transaction for the look (it runs every POLL seconds): the
        # versions, the sensors and `wanted`.
        with self.engine.begin() as connection:
            rows = connection.execute(sa.select(RULESET.c.id, RULESET.c.version)).all()
            sensors = connection_sensors(connection)
            wanted = self.lease.wanted(connection)
        versions = {int(r.id): int(r.version or 0) for r in rows}
        self._loop.interval = POLL if sensors else IDLE_POLL
        if sensors and self._first_sensor is not None:
            first, self._first_sensor = self._first_sensor, None
            first()
        seen = self._seen_versions or {}
        moved = {rs: v for rs, v in versions.items() if seen.get(rs) != v}
        if moved or sensors != self._seen_sensors or wanted != self._seen_wanted:
            first_look = self._seen_versions is None
            self._seen_versions, self._seen_sensors = versions, sensors
            self._seen_wanted = wanted
            request_id = wanted or None
            self.publisher.sensors_changed(request_id)
            attached = {s.ruleset_id for s in sensors}
            # Wait for the sets written (all of them at the first look, or when the
            # sensors or `wanted` moved) on their sensors, so the status is reported the
            # moment it lands.
            due = attached if (first_look or not moved) else attached & set(moved)
            for ruleset_id in sorted(due):
                if ruleset_id in versions:
                    self.publisher.notify(
                        versions[ruleset_id],
                        wait=REPORT_WAIT,
                        request_id=request_id,
                        ruleset_id=ruleset_id,
                    )
        report = _encode(self.publisher.rows())
        if report != self._reported and self.lease.report(report):
            self._reported = report


def want_in_transaction(dal: Any, lease_name: str, request_id: str) -> None:
    """`wanted` set through the caller's PyDAL connection: committed with its write."""
    table = dal.service_lease
    dal(table.name == lease_name).update(wanted=request_id[:128])


class SharedPublisherView:
    """Stands in for `packet_link.publisher` in an HTTP worker that does not publish.
    `sensors` reads the sensor rows (its own connection, committed data)."""

    def __init__(
        self,
        read: Callable[[], str | None],
        want: Callable[[str], None],
        sensors: Callable[[], list[Sensor]],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        want_in_write: Callable[[str], None] | None = None,
    ) -> None:
        self._read = read
        self._want = want
        self._want_in_write = want_in_write
        self._sensors = sensors
        self._monotonic = monotonic
        self._sleep = sleep

    def start(self) -> None:
        """Nothing runs here: the lease holder publishes."""

    def stop(self) -> None:
        """Nothing runs here."""

    def _attached(self, ruleset_id: int) -> list[Sensor]:
        try:
            return [s for s in self._sensors() if s.ruleset_id == ruleset_id]
        except sa.exc.SQLAlchemyError as error:
            log.warning("sensors unreadable", extra={"error": str(error)})
            return []

    def _targets(self, ruleset_id: int) -> list[dict[str, Any]]:
        attached = self._attached(ruleset_id)
        if not attached:
            return []
        try:
            text = self._read()
            rows = json.loads(text) if text else []
        except (sa.exc.SQLAlchemyError, ValueError) as error:
            log.warning("publisher status unreadable", extra={"error": str(error)})
            rows = []
        known = {
            (row.get("sensor_id"), row.get("target"), row.get("ruleset_id")): row
            for row in rows
            if isinstance(row, dict)
        }
        targets = []
        for sensor in attached:
            reported = known.get((sensor.id, sensor.address, sensor.ruleset_id))
            row = {
                "target": sensor.address,
                "sensor_id": sensor.id,
                "name": sensor.name,
                "ruleset_id": sensor.ruleset_id,
                "applied_version": None,
                "last_publish_at": None,
                "last_contact_at": None,
                "last_error": None,
                "breaker_state": "closed",
                **(reported or {}),
            }
            row["name"] = sensor.name
            if not reported:
                row["last_error"] = NOT_YET if rows else NO_HOLDER
            for moment in MOMENTS:
                if isinstance(row[moment], int | float):
                    row[moment] = datetime.fromtimestamp(row[moment], UTC)
            targets.append(row)
        return targets

    def expect(self, request_id: str | None) -> None:
        """A write is about to commit: `wanted` takes its request id in the write's own
        transaction, so the holder sees the new version and the id together. (Set after the
        commit, a holder's look in between publishes the version under the previous id and
        the next look finds nothing left to send: the id never reaches packet-service.)"""
        if request_id and self._want_in_write is not None:
            self._want_in_write(request_id)

    def sensors_changed(self, request_id: str | None = None) -> None:
        try:
            self._want(request_id or f"sensors-{secrets.token_hex(4)}")
        except sa.exc.SQLAlchemyError as error:  # the holder's poll still sees the rows
            log.warning("could not ask the publisher to hurry", extra={"error": str(error)})

    def notify(
        self,
        version: int,
        wait: float = 0.0,
        request_id: str | None = None,
        ruleset_id: int = DEFAULT_RULESET,
    ) -> bool:
        if not self._attached(ruleset_id):
            return True
        try:
            self._want(request_id or f"version-{version}")
        except sa.exc.SQLAlchemyError as error:  # the holder's poll still sees the version
            log.warning("could not ask the publisher to hurry", extra={"error": str(error)})
        if wait <= 0:
            return False
        deadline = self._monotonic() + wait
        while True:
            targets = self._targets(ruleset_id)
            if applied(targets, version):  # this version, or a later one containing it
                return True
            if all(t["breaker_state"] == "open" for t in targets):
                return False  # nobody reachable: do not make the writer wait
            if self._monotonic() >= deadline:
                return False
            self._sleep(VIEW_POLL)

    def status(self, desired_version: int, ruleset_id: int = DEFAULT_RULESET) -> dict[str, Any]:
        return status_answer(desired_version, self._targets(ruleset_id))


def worker_view(dal: Any, lease: Lease, sensors: Callable[[], list[Sensor]]) -> SharedPublisherView:
    """An HTTP worker's view of the publisher that `lease`'s holder runs: status read from
    the lease row, a write's request id written there inside the write's own transaction
    (through `dal`, before its commit), `sensors` the sensor rows."""
    return SharedPublisherView(
        lease.reported,
        lease.want,
        sensors,
        want_in_write=lambda request_id: want_in_transaction(dal, lease.name, request_id),
    )
