"""Keeps every packet-service target enforcing the rule set stored in the database.

Writes call `notify()`; a background loop also compares, every `interval` seconds, the
desired version with what each target reports (GetRules) and re-publishes on a mismatch,
so a restarted packet-service converges without anyone acting."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import grpc
from rookery_common.background import BackgroundLoop

from ..tracing import root_span
from .packet_client import (
    PacketTarget,
    RetryPolicy,
    UpstreamUnavailable,
    describe_failure,
    packet_pb2,
)

log = logging.getLogger(__name__)

PUBLISH_RETRY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.5)


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
    ) -> None:
        self._targets = targets
        self._load_desired = load_desired
        self._status = {t.address: TargetStatus(t.address) for t in targets}
        self._desired_version: int | None = None
        self._request_id: str | None = None  # of the write that asked for the next publish
        self._lock = threading.Lock()
        self._converged = threading.Condition(self._lock)
        self._loop = BackgroundLoop("rule-publisher", interval, self.reconcile_once, log=log)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._targets:
            self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
        for target in self._targets:
            target.close()

    # ------------------------------------------------------------------ work
    def notify(self, version: int, wait: float = 0.0, request_id: str | None = None) -> bool:
        """Asks for a publish now. With `wait`, blocks up to that many seconds for every
        target to report `version`; returns whether they all did. `request_id` travels
        with the publish as gRPC metadata, for correlation across both services' logs."""
        if not self._targets:
            return True
        with self._lock:
            self._request_id = request_id
        self._loop.wake()
        if wait <= 0:
            return False
        deadline = time.monotonic() + wait
        with self._converged:
            while not self._all_applied_locked(version):
                if all(t.breaker_state == "open" for t in self._targets):
                    return False  # nobody reachable: do not make the writer wait
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._converged.wait(remaining)
        return True

    @root_span("rules.publish")  # a round has no request to belong to: its own trace
    def reconcile_once(self) -> None:
        desired = self._load_desired()
        with self._lock:
            self._desired_version = desired.version
            request_id, self._request_id = self._request_id, None
        for target in self._targets:
            self._reconcile_target(target, desired, request_id)
        with self._converged:
            self._converged.notify_all()

    def _reconcile_target(
        self, target: PacketTarget, desired: packet_pb2.RuleSet, request_id: str | None
    ) -> None:
        status = self._status[target.address]
        try:
            current = target.call("GetRules", packet_pb2.GetRulesRequest(), request_id=request_id)
            now = time.time()
            status.last_contact_at = now
            status.applied_version = current.version
            if current.version != desired.version:
                target.call("SetRules", desired, request_id=request_id, retry=PUBLISH_RETRY)
                status.applied_version = desired.version
                status.last_publish_at = time.time()
                log.info(
                    "rule set published",
                    extra={
                        "target": target.address,
                        "version": desired.version,
                        "request_id": request_id or "",
                    },
                )
            status.last_error = None
        except UpstreamUnavailable as error:
            status.last_error = str(error)
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

    def _all_applied_locked(self, version: int) -> bool:
        return all(s.applied_version == version for s in self._status.values())

    # ------------------------------------------------------------------ status
    def status(self, desired_version: int) -> dict[str, object]:
        with self._lock:
            targets = []
            for target in self._targets:
                entry = self._status[target.address]
                entry.breaker_state = target.breaker_state
                row = asdict(entry)
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
