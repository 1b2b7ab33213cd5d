"""The rule publisher seen from processes that do not run it.

One process of the deployment holds the publisher lease and runs the RulePublisher
(server.py). A rule written through any other worker or replica reaches it through the
database:

- every HTTP worker's `packet_link.publisher` is a `SharedPublisherView`: `notify()`
  (after a write) leaves the write's request id in the lease row (`wanted`), then polls
  the reported status until every target reports the version or the wait is over;
  `status()` (GET /rules/status) answers from that status;
- the holder's `PublisherReporter` reads the rule-set version and `wanted` every POLL
  seconds and wakes its publisher when either moved (the request id travels on to
  packet-service as before), then writes the publisher's per-target status (JSON) into the
  lease row whenever it changed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from rookery_common.background import BackgroundLoop

from .lease import Lease
from .packet_link.rule_publisher import applied

log = logging.getLogger("rookery.rules")
# Seconds between the holder's looks at the rule-set version: a write through another
# worker waits about this long before its publish starts (two one-row reads per look).
POLL = 0.05
# Up to this long the holder's step waits for the publish it asked for, so its status is
# reported the moment it lands instead of one POLL later.
REPORT_WAIT = 1.0
VIEW_POLL = 0.05  # seconds between a waiting writer's looks at the reported status
MOMENTS = ("last_publish_at", "last_contact_at")

RULESET = sa.Table(
    "packet_ruleset",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer),
)


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
    """Runs in the lease holder next to its RulePublisher."""

    def __init__(self, publisher: Any, lease: Lease, engine: sa.Engine) -> None:
        self.publisher = publisher
        self.lease = lease
        self.engine = engine
        self._seen_version: int | None = None
        self._seen_wanted: str | None = None
        self._reported: str | None = None
        self._loop = BackgroundLoop("publisher-report", POLL, self.step, log=log)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def step(self) -> None:
        with self.engine.begin() as connection:
            version = connection.execute(sa.select(sa.func.max(RULESET.c.version))).scalar()
        version = int(version or 0)
        wanted = self.lease.wanted()
        if version != self._seen_version or wanted != self._seen_wanted:
            self._seen_version, self._seen_wanted = version, wanted
            self.publisher.notify(version, wait=REPORT_WAIT, request_id=wanted or None)
        report = _encode(self.publisher.status(version)["targets"])
        if report != self._reported and self.lease.report(report):
            self._reported = report


class SharedPublisherView:
    """Stands in for `packet_link.publisher` in an HTTP worker that does not publish."""

    def __init__(
        self,
        targets: list[Any],
        read: Callable[[], str | None],
        want: Callable[[str], None],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._addresses = [t.address for t in targets]
        self._read = read
        self._want = want
        self._monotonic = monotonic
        self._sleep = sleep

    def start(self) -> None:
        """Nothing runs here: the lease holder publishes."""

    def stop(self) -> None:
        """Nothing runs here."""

    def _targets(self) -> list[dict[str, Any]]:
        try:
            text = self._read()
            rows = json.loads(text) if text else []
        except (sa.exc.SQLAlchemyError, ValueError) as error:
            log.warning("publisher status unreadable", extra={"error": str(error)})
            rows = []
        known = {row.get("target"): row for row in rows if isinstance(row, dict)}
        targets = []
        for address in self._addresses:
            row = {
                "target": address,
                "applied_version": None,
                "last_publish_at": None,
                "last_contact_at": None,
                "last_error": None,
                "breaker_state": "closed",
                **known.get(address, {}),
            }
            if not known.get(address):
                row["last_error"] = "no process holds the publisher lease yet"
            for moment in MOMENTS:
                if isinstance(row[moment], int | float):
                    row[moment] = datetime.fromtimestamp(row[moment], UTC)
            targets.append(row)
        return targets

    def notify(self, version: int, wait: float = 0.0, request_id: str | None = None) -> bool:
        if not self._addresses:
            return True
        try:
            self._want(request_id or f"version-{version}")
        except sa.exc.SQLAlchemyError as error:  # the holder's poll still sees the version
            log.warning("could not ask the publisher to hurry", extra={"error": str(error)})
        if wait <= 0:
            return False
        deadline = self._monotonic() + wait
        while True:
            targets = self._targets()
            if applied(targets, version):  # this version, or a later one containing it
                return True
            if all(t["breaker_state"] == "open" for t in targets):
                return False  # nobody reachable: do not make the writer wait
            if self._monotonic() >= deadline:
                return False
            self._sleep(VIEW_POLL)

    def status(self, desired_version: int) -> dict[str, object]:
        targets = self._targets()
        in_sync = applied(targets, desired_version)
        return {
            "desired_version": desired_version,
            "state": "in_sync" if in_sync else "pending",
            "targets": targets,
        }
