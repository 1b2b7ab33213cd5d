"""Keeps every sensor (packet-service instance, table `sensor`) enforcing the rule set it
is attached to, as stored in the database.

The sensors are read from the database at the start of every round (one small statement),
so a sensor added, moved to another rule set or removed is followed at the next round;
`notify()` (a write) or `sensors_changed()` brings that round forward. A target (channel,
breaker) is opened for a new address and closed when no sensor has it any more
(sensors.TargetPool). Versions come from one sequence for every rule set, so a sensor moved
to another set always sees a different version and receives the new set; until it
confirms one, its status names no applied version of its new set.

Publishing is coalesced, never one publish per write: packet-service takes a whole rule set
(SetRules, proto/packet.proto), so a write calls `notify()`, which wakes the one publishing
loop, and the loop publishes the newest version in the database when it runs. Writes that
land while a round is under way go out together in the next round: one full-set publish
for all of them. A write is "applied" as soon as every sensor attached to its rule set runs
its version or any later one of that set (a later version contains it).

A write waits for its round only while rounds are quick (a moving average of at most
`quick_round` seconds, 0.1 s by default). With a small set the caller learns "applied" at
once; with a large one (packet-service compiles a whole set, about a second for 5,000
rules) the write answers "pending" without waiting, and GET /rules/status follows the
deployment. So a write never waits on a slow full-set publish, and its latency does not grow
with the number of rules.

Every `interval` seconds the loop also asks each target which version it runs (GetRules
with version_only, not the whole set) and publishes again on a mismatch, so a restarted
packet-service converges without anyone acting. The whole set is read from the database
only when its version changed since the last read (per rule set).

The loop logs state changes only: the database or a target going away is one warning, its
return one line saying for how long, not a line or a traceback per retry. `start()` and
`stop()` may be called any number of times, in any order."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from rookery_common.background import BackgroundLoop
from rookery_common.logs import StateLog

from ..tracing import root_span
from .packet_client import (
    PacketTarget,
    RetryPolicy,
    UpstreamUnavailable,
    describe_failure,
    packet_pb2,
)
from .sensors import DEFAULT_RULESET, Sensor, TargetPool

log = logging.getLogger("rookery.rules.publisher")

PUBLISH_RETRY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.5)
# A write waits for its publish only while publishing rounds take at most this long
# (smoothed: one round slowed by a busy machine does not flip the decision).
QUICK_ROUND_SECONDS = 0.1
ROUND_SMOOTHING = 0.3  # weight of the newest round in the moving average
VERSION_ONLY = packet_pb2.GetRulesRequest(version_only=True)
BREAKER_SLACK = 0.02  # seconds after a breaker's reset before its trial call


def quick_rounds(round_seconds: float | None, quick_round: float = QUICK_ROUND_SECONDS) -> bool:
    """Whether a write should wait for its publish: rounds take at most `quick_round` (or
    none was measured yet)."""
    return round_seconds is None or round_seconds <= quick_round


def applied(targets: list[dict[str, object]], version: int) -> bool:
    """Every target runs `version` or a later one (which contains it)."""
    return all(
        isinstance(t.get("applied_version"), int) and t["applied_version"] >= version  # type: ignore[operator]
        for t in targets
    )


@dataclass(slots=True)
class TargetStatus:
    target: str
    sensor_id: int = 0
    name: str = ""
    ruleset_id: int = DEFAULT_RULESET
    applied_version: int | None = None  # of `ruleset_id`; None until the sensor confirms one
    last_publish_at: float | None = None
    last_contact_at: float | None = None
    last_error: str | None = None
    breaker_state: str = "closed"


@dataclass(slots=True)
class _Tracked:
    """A sensor as the publisher follows it: its row, its target and its status."""

    sensor: Sensor
    target: PacketTarget
    status: TargetStatus
    state: StateLog


class RulePublisher:
    def __init__(
        self,
        sensors: Callable[[], list[Sensor]],
        pool: TargetPool,
        load_desired: Callable[[int], packet_pb2.RuleSet | None],
        interval: float = 2.0,
        *,
        load_version: Callable[[int], int | None] | None = None,
        quick_round: float = QUICK_ROUND_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sensors` reads the sensor rows; `load_desired(ruleset_id)` the whole set as
        packet-service takes it (None: no such set); `load_version(ruleset_id)` its version
        alone."""
        self._read_sensors = sensors
        self._pool = pool
        self._load_desired = load_desired
        self._load_version = load_version
        self._interval = interval
        self._quick_round = quick_round
        self._clock = clock
        self._tracked: dict[int, _Tracked] | None = None  # by sensor id; None: not read yet
        # sensors_changed() calls, and how many of them the last sensor read had seen: the
        # publisher's idea of who enforces which set is not trusted until they agree
        self._sensors_asked = 0
        self._sensors_read = 0
        self._database_state = StateLog(log, "rule database", clock=clock)
        self._desired: dict[int, packet_pb2.RuleSet] = {}  # the last set read, per rule set
        self._desired_versions: dict[int, int | None] = {}
        self._asked = False  # a write asked for a publish since the last round started
        self._request_id: str | None = None  # of the write that asked for the next publish
        self._last_round: float | None = None  # seconds the last publishing round took
        self._lock = threading.Lock()
        self._converged = threading.Condition(self._lock)
        self._lifecycle = threading.Lock()
        self._loop: BackgroundLoop | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        loop = self._loop
        return loop is not None and loop.running and not loop.stopping

    def start(self) -> None:
        """Starts the loop (again after a stop); does nothing when it runs already. It runs
        with no sensor too: one may be added at any time."""
        with self._lifecycle:
            if self.running:
                return
            self._loop = BackgroundLoop(
                "rule-publisher", self._interval, self.reconcile_once, log=log
            )
            self._loop.start()

    def stop(self) -> None:
        """Stops the loop; the targets' channels stay open (the statistics view uses them,
        and start() may follow)."""
        with self._lifecycle:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()
        with self._converged:
            self._converged.notify_all()  # waiting writers answer "pending" now

    # ------------------------------------------------------------------ work
    def _attached_locked(self, ruleset_id: int) -> list[_Tracked] | None:
        """The sensors of `ruleset_id`; None while they are unknown (not read yet, or read
        before the last sensors_changed())."""
        if self._tracked is None or self._sensors_read < self._sensors_asked:
            return None
        return [t for t in self._tracked.values() if t.sensor.ruleset_id == ruleset_id]

    def sensors_changed(self, request_id: str | None = None) -> None:
        """A sensor was added, moved or removed: a round now reads them again and
        publishes what is due."""
        with self._lock:
            self._asked = True
            self._request_id = request_id or self._request_id
            self._sensors_asked += 1
        loop = self._loop
        if loop is not None:
            loop.wake()

    def expect(self, request_id: str | None) -> None:
        """A write is about to commit: whichever round first sees it publishes with its
        request id. (A round between the commit and notify() would otherwise carry no id,
        and notify()'s round find nothing left to send.)"""
        if request_id:
            with self._lock:
                self._request_id = request_id

    def notify(
        self,
        version: int,
        wait: float = 0.0,
        request_id: str | None = None,
        ruleset_id: int = DEFAULT_RULESET,
    ) -> bool:
        """Asks for a publish now. With `wait`, blocks up to that many seconds for every
        sensor attached to `ruleset_id` to run `version` or a later one of that set, unless
        rounds are slow (see the module docstring); returns whether they all do. A set no
        sensor is attached to is applied at once. `request_id` travels with the publish as
        gRPC metadata, for correlation across both services' logs."""
        with self._lock:
            attached = self._attached_locked(ruleset_id)
            if attached is not None and not attached:
                return True
            self._asked = True
            self._request_id = request_id
            slow = not quick_rounds(self._last_round, self._quick_round)
        loop = self._loop
        if loop is not None:
            loop.wake()
        deadline = self._clock() + wait
        with self._converged:
            while not self._all_applied_locked(version, ruleset_id):
                if wait <= 0 or slow or not self.running:
                    return False
                attached = self._attached_locked(ruleset_id) or []
                if attached and all(t.target.breaker_state == "open" for t in attached):
                    return False  # nobody reachable: do not make the writer wait
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._converged.wait(remaining)
        return True

    def _desired_set(self, ruleset_id: int) -> packet_pb2.RuleSet | None:
        """The rule set to enforce; read whole only when its version changed."""
        cached = self._desired.get(ruleset_id)
        load_version = self._load_version
        if cached is not None and load_version and load_version(ruleset_id) == cached.version:
            return cached
        desired = self._load_desired(ruleset_id)
        if desired is None:
            self._desired.pop(ruleset_id, None)
        else:
            self._desired[ruleset_id] = desired
        return desired

    def _follow(self, sensors: list[Sensor], sensors_asked: int) -> list[_Tracked]:
        """Takes the sensor rows read this round: targets opened and closed, the status of
        a sensor moved to another set (or to another address) starts again."""
        targets = self._pool.sync(sensors)
        with self._lock:
            old = self._tracked or {}
            tracked: dict[int, _Tracked] = {}
            for sensor in sensors:
                target = targets[sensor.address]
                known = old.get(sensor.id)
                if known is not None and known.target is target:
                    status = known.status
                    if known.sensor.ruleset_id != sensor.ruleset_id:
                        status.applied_version = None  # it runs the old set: not this one
                    status.ruleset_id, status.name = sensor.ruleset_id, sensor.name
                    tracked[sensor.id] = _Tracked(sensor, target, status, known.state)
                else:
                    status = TargetStatus(sensor.address, sensor.id, sensor.name, sensor.ruleset_id)
                    state = StateLog(log, f"packet-service {sensor.address}", clock=self._clock)
                    tracked[sensor.id] = _Tracked(sensor, target, status, state)
            self._tracked = tracked
            self._sensors_read = sensors_asked
            return list(tracked.values())

    @root_span("rules.publish")  # a round has no request to belong to: its own trace
    def reconcile_once(self) -> float | None:
        """One round; returns how soon the next should come when that is before the interval:
        a target left behind with its breaker open is retried the moment the breaker lets a
        trial call through, so a write made during an outage goes out when it ends."""
        with self._lock:
            asked, self._asked = self._asked, False
            request_id, self._request_id = self._request_id, None
            sensors_asked = self._sensors_asked
        started = self._clock()
        try:
            sensors = self._read_sensors()
            desired: dict[int, packet_pb2.RuleSet | None] = {}
            for ruleset_id in sorted({s.ruleset_id for s in sensors}):
                desired[ruleset_id] = self._desired_set(ruleset_id)
        except Exception as error:  # the database is away: one line when that starts
            first_line = (str(error).splitlines() or [""])[0]
            self._database_state.down(f"{type(error).__name__}: {first_line}", error)
            return None
        self._database_state.up()
        tracked = self._follow(sensors, sensors_asked)
        for ruleset_id in list(self._desired):
            if ruleset_id not in desired:
                del self._desired[ruleset_id]  # no sensor enforces it any more
        with self._lock:
            self._desired_versions = {
                rs: (None if d is None else d.version) for rs, d in desired.items()
            }
        published = False
        for entry in tracked:
            wanted = desired.get(entry.sensor.ruleset_id)
            if wanted is None:
                entry.status.last_error = (
                    f"rule set {entry.sensor.ruleset_id} does not exist: nothing to publish"
                )
                continue
            published |= self._reconcile_target(entry, wanted, request_id, verify=not asked)
        with self._converged:
            if published:
                took = self._clock() - started
                last = self._last_round
                self._last_round = (
                    took
                    if last is None
                    else (ROUND_SMOOTHING * took + (1 - ROUND_SMOOTHING) * last)
                )
            self._converged.notify_all()
        return self._retry_pause(tracked)

    def _retry_pause(self, tracked: list[_Tracked]) -> float | None:
        """Seconds until the soonest breaker reset among the targets behind their set."""
        with self._lock:
            versions = dict(self._desired_versions)
        waits = [
            entry.target.retry_in()
            for entry in tracked
            if entry.status.applied_version != versions.get(entry.sensor.ruleset_id)
            and entry.target.breaker_state == "open"
        ]
        # A hair past the reset: pybreaker compares its own clock, and one trial call that
        # comes a few microseconds early is refused and costs a whole reset period.
        return min(waits) + BREAKER_SLACK if waits else None

    def _reconcile_target(
        self,
        entry: _Tracked,
        desired: packet_pb2.RuleSet,
        request_id: str | None,
        verify: bool,
    ) -> bool:
        """Brings one sensor to `desired`; returns whether it published. `verify` asks the
        target which version it runs (the periodic check); after a write the version it
        last confirmed is trusted, which spares a round trip carrying the whole set."""
        target, status = entry.target, entry.status
        published = False
        try:
            if verify or status.applied_version is None:
                current = target.call("GetRules", VERSION_ONLY, request_id=request_id)
                status.last_contact_at = time.time()
                entry.state.up()
                with self._lock:
                    # Versions are unique across rule sets: only this set's version counts.
                    status.applied_version = (
                        current.version if current.version == desired.version else None
                    )
            if status.applied_version != desired.version:
                reply = target.call("SetRules", desired, request_id=request_id, retry=PUBLISH_RETRY)
                now = time.time()
                status.last_contact_at = status.last_publish_at = now
                with self._lock:
                    status.applied_version = reply.version or desired.version
                published = True
                log.info(
                    "rule set published",
                    extra={
                        "target": target.address,
                        "sensor": entry.sensor.name,
                        "ruleset_id": entry.sensor.ruleset_id,
                        "version": desired.version,
                        "rules": len(desired.rules),
                        "request_id": request_id or "",
                    },
                )
            status.last_error = None
            entry.state.up()
        except UpstreamUnavailable as error:
            status.last_error = str(error)
            entry.state.down(str(error))
        except grpc.RpcError as error:
            # The target refused the set (INVALID_ARGUMENT) or refused us (UNAUTHENTICATED
            # once the service account's key is revoked): keep the reason, readable by a
            # person, for GET /rules/status. Logged once per new reason, not every round.
            reason = describe_failure(error)
            if reason != status.last_error:
                log.error(
                    "rule publishing refused", extra={"target": target.address, "error": reason}
                )
            status.last_error = reason
        except ValueError as error:  # its channel was closed: the sensor went meanwhile
            status.last_error = str(error)
        finally:
            status.breaker_state = target.breaker_state
        return published

    def _all_applied_locked(self, version: int, ruleset_id: int) -> bool:
        # A later version of the set contains this one: coalesced writes are applied with it.
        attached = self._attached_locked(ruleset_id)
        if attached is None:
            return False  # the sensors were not read yet
        return all(
            t.status.applied_version is not None and t.status.applied_version >= version
            for t in attached
        )

    # ------------------------------------------------------------------ status
    @property
    def round_seconds(self) -> float | None:
        """How long a publishing round takes (moving average; None before the first)."""
        return self._last_round

    def rows(self) -> list[dict[str, Any]]:
        """The status of every sensor (TargetStatus fields and `round_seconds`): what the
        lease holder reports to processes that do not publish."""
        with self._lock:
            rows = []
            for entry in (self._tracked or {}).values():
                entry.status.breaker_state = entry.target.breaker_state
                row = asdict(entry.status)
                row["round_seconds"] = self._last_round
                rows.append(row)
        return rows

    def status(self, desired_version: int, ruleset_id: int = DEFAULT_RULESET) -> dict[str, Any]:
        """Per sensor attached to `ruleset_id`: the TargetStatus fields, and `round_seconds`
        (the publisher's, on every row: the rows are what travels to processes that do not
        publish, and a writer there decides with it whether to wait; the REST answer leaves
        it out)."""
        targets = [row for row in self.rows() if row["ruleset_id"] == ruleset_id]
        for row in targets:
            for moment in ("last_publish_at", "last_contact_at"):
                if row[moment] is not None:
                    row[moment] = datetime.fromtimestamp(row[moment], UTC)
        return status_answer(desired_version, targets)


def status_answer(desired_version: int, targets: list[dict[str, Any]]) -> dict[str, Any]:
    """The shape of GET /rules/status: in sync when every sensor runs the version (or a
    later one of its set: the version named here was read before it)."""
    return {
        "desired_version": desired_version,
        "state": "in_sync" if applied(targets, desired_version) else "pending",
        "targets": targets,
    }
