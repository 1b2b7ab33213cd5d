"""Keeps every packet-service target enforcing the rule set stored in the database.

Publishing is coalesced, never one publish per write: packet-service takes a whole rule set
(SetRules, proto/packet.proto), so a write calls `notify()`, which wakes the one publishing
loop, and the loop publishes the newest version in the database when it runs. Writes that
land while a round is under way go out together in the next round: one full-set publish
for all of them. A write is "applied" as soon as every target runs its version or any later
one (a later version contains it).

A write waits for its round only while rounds are quick (a moving average of at most
`quick_round` seconds, 0.1 s by default). With a small set the caller learns "applied" at
once; with a large one (packet-service compiles a whole set, about a second for 5,000
rules) the write answers "pending" without waiting, and GET /rules/status follows the
deployment. So a write never waits on a slow full-set publish, and its latency does not grow
with the number of rules.

Every `interval` seconds the loop also asks each target which version it runs (GetRules
with version_only, not the whole set) and publishes again on a mismatch, so a restarted
packet-service converges without anyone acting. The whole set is read from the database
only when its version changed since the last read.

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
    applied_version: int | None = None
    last_publish_at: float | None = None
    last_contact_at: float | None = None
    last_error: str | None = None
    breaker_state: str = "closed"


class RulePublisher:
    def __init__(
        self,
        targets: list[PacketTarget],
        load_desired: Callable[[], packet_pb2.RuleSet],
        interval: float = 2.0,
        *,
        load_version: Callable[[], int] | None = None,
        quick_round: float = QUICK_ROUND_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._targets = targets
        self._load_desired = load_desired
        self._load_version = load_version
        self._interval = interval
        self._quick_round = quick_round
        self._clock = clock
        self._status = {t.address: TargetStatus(t.address) for t in targets}
        self._target_state = {
            t.address: StateLog(log, f"packet-service {t.address}", clock=clock) for t in targets
        }
        self._database_state = StateLog(log, "rule database", clock=clock)
        self._desired: packet_pb2.RuleSet | None = None  # the last set read, by version
        self._desired_version: int | None = None
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
        """Starts the loop (again after a stop); does nothing when it runs already."""
        if not self._targets:
            return
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
    def notify(self, version: int, wait: float = 0.0, request_id: str | None = None) -> bool:
        """Asks for a publish now. With `wait`, blocks up to that many seconds for every
        target to run `version` or a later one, unless rounds are slow (see the module
        docstring); returns whether they all do. `request_id` travels with the publish as
        gRPC metadata, for correlation across both services' logs."""
        if not self._targets:
            return True
        with self._lock:
            self._asked = True
            self._request_id = request_id
            slow = not quick_rounds(self._last_round, self._quick_round)
        loop = self._loop
        if loop is not None:
            loop.wake()
        deadline = self._clock() + wait
        with self._converged:
            while not self._all_applied_locked(version):
                if wait <= 0 or slow or not self.running:
                    return False
                if all(t.breaker_state == "open" for t in self._targets):
                    return False  # nobody reachable: do not make the writer wait
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._converged.wait(remaining)
        return True

    def _desired_set(self) -> packet_pb2.RuleSet:
        """The rule set to enforce; read whole only when its version changed."""
        cached = self._desired
        if cached is not None and self._load_version and self._load_version() == cached.version:
            return cached
        self._desired = self._load_desired()
        return self._desired

    @root_span("rules.publish")  # a round has no request to belong to: its own trace
    def reconcile_once(self) -> float | None:
        """One round; returns how soon the next should come when that is before the interval:
        a target left behind with its breaker open is retried the moment the breaker lets a
        trial call through, so a write made during an outage goes out when it ends."""
        with self._lock:
            asked, self._asked = self._asked, False
            request_id, self._request_id = self._request_id, None
        started = self._clock()
        try:
            desired = self._desired_set()
        except Exception as error:  # the database is away: one line when that starts
            first_line = (str(error).splitlines() or [""])[0]
            self._database_state.down(f"{type(error).__name__}: {first_line}", error)
            return None
        self._database_state.up()
        with self._lock:
            self._desired_version = desired.version
        published = False
        for target in self._targets:
            published |= self._reconcile_target(target, desired, request_id, verify=not asked)
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
        return self._retry_pause(desired.version)

    def _retry_pause(self, version: int) -> float | None:
        """Seconds until the soonest breaker reset among the targets behind `version`."""
        waits = [
            target.retry_in()
            for target in self._targets
            if self._status[target.address].applied_version != version
            and target.breaker_state == "open"
        ]
        # A hair past the reset: pybreaker compares its own clock, and one trial call that
        # comes a few microseconds early is refused and costs a whole reset period.
        return min(waits) + BREAKER_SLACK if waits else None

    def _reconcile_target(
        self,
        target: PacketTarget,
        desired: packet_pb2.RuleSet,
        request_id: str | None,
        verify: bool,
    ) -> bool:
        """Brings one target to `desired`; returns whether it published. `verify` asks the
        target which version it runs (the periodic check); after a write the version it
        last confirmed is trusted, which spares a round trip carrying the whole set."""
        status = self._status[target.address]
        published = False
        try:
            if verify or status.applied_version is None:
                current = target.call("GetRules", VERSION_ONLY, request_id=request_id)
                status.last_contact_at = time.time()
                self._target_state[target.address].up()
                with self._lock:
                    status.applied_version = current.version
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
                        "version": desired.version,
                        "rules": len(desired.rules),
                        "request_id": request_id or "",
                    },
                )
            status.last_error = None
            self._target_state[target.address].up()
        except UpstreamUnavailable as error:
            status.last_error = str(error)
            self._target_state[target.address].down(str(error))
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
        finally:
            status.breaker_state = target.breaker_state
        return published

    def _all_applied_locked(self, version: int) -> bool:
        # A later version contains this one: coalesced writes are applied with it.
        return all(
            s.applied_version is not None and s.applied_version >= version
            for s in self._status.values()
        )

    # ------------------------------------------------------------------ status
    @property
    def round_seconds(self) -> float | None:
        """How long a publishing round takes (moving average; None before the first)."""
        return self._last_round

    def status(self, desired_version: int) -> dict[str, object]:
        """Per target: the TargetStatus fields, and `round_seconds` (the publisher's, on
        every row: the rows are what travels to processes that do not publish, and a
        writer there decides with it whether to wait; the REST answer leaves it out)."""
        with self._lock:
            targets = []
            for target in self._targets:
                entry = self._status[target.address]
                entry.breaker_state = target.breaker_state
                row = asdict(entry)
                row["round_seconds"] = self._last_round
                for moment in ("last_publish_at", "last_contact_at"):
                    if row[moment] is not None:
                        row[moment] = datetime.fromtimestamp(row[moment], UTC)
                targets.append(row)
        in_sync = all(t["applied_version"] == desired_version for t in targets)
        return {
            "desired_version": desired_version,
            "state": "in_sync" if in_sync else "pending",
            "targets": targets,
        }
