"""flask-backend's client of packet-service: one channel, one circuit breaker and one
deadline policy per target. Every call has a deadline; a failing target trips its breaker
so later calls fail fast instead of hanging a request."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pybreaker

from ..accounts import SERVICE_ACCOUNT
from ..gen import packet_pb2, packet_pb2_grpc

log = logging.getLogger("rookery.packet_link")

# Transient codes worth a retry; anything else (INVALID_ARGUMENT, PERMISSION_DENIED…) is
# an answer, not a failure of the channel, and must not trip the breaker.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


# gRPC backs reconnects off up to two minutes by default; a restarted packet-service must
# be found again within about a second.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


class UpstreamUnavailable(Exception):
    """The target cannot be reached now (down, deadline exceeded, or breaker open)."""


# What an operator should read when packet-service refuses the backend's own credential:
# the raw status alone ("UNAUTHENTICATED: invalid credential") does not say whose.
CREDENTIAL_REFUSED = (
    f"packet-service refused the credential of flask-backend's service account "
    f"({SERVICE_ACCOUNT}): its API key was revoked or is unknown there; restarting "
    "flask-backend provisions a new one"
)


def describe_failure(error: BaseException) -> str:
    """One line saying why a call failed, readable by a person; keeps the gRPC code."""
    if isinstance(error, grpc.RpcError):
        code = error.code()
        detail = error.details() or ""
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return f"{CREDENTIAL_REFUSED} (UNAUTHENTICATED: {detail})"
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return (
                "packet-service refused flask-backend's service account: it lacks a scope "
                f"(PERMISSION_DENIED: {detail})"
            )
        return f"{code.name}: {detail}"
    return str(error)


@dataclass(slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 1.0

    def delay(self, attempt: int) -> float:
        # Full jitter: spreads retries of many replicas instead of syncing them.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def _is_channel_failure(error: BaseException) -> bool:
    return isinstance(error, grpc.RpcError) and error.code() in RETRYABLE


class _OpenedAt(pybreaker.CircuitBreakerListener):
    """Remembers when the breaker last opened, on a monotonic clock (pybreaker keeps its own
    moment privately, on the wall clock)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.moment: float | None = None

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        if new_state is not None and new_state.name == pybreaker.STATE_OPEN:
            self.moment = self._clock()


class PacketTarget:
    """One packet-service instance."""

    def __init__(
        self,
        address: str,
        credential: Callable[[], str | None],
        deadline: float = 1.0,
        breaker_fail_max: int = 3,
        breaker_reset: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self._clock = clock
        self._opened_at = _OpenedAt(clock)
        self.deadline = deadline
        self._credential = credential
        self._channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._stub = packet_pb2_grpc.PacketServiceStub(self._channel)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_fail_max,
            reset_timeout=breaker_reset,
            # Only transport failures count against the breaker.
            exclude=[lambda e: not _is_channel_failure(e)],
            name=address,
            listeners=[self._opened_at],
        )

    @property
    def breaker_state(self) -> str:
        return str(self.breaker.current_state)

    def retry_in(self) -> float:
        """Seconds until the breaker lets a trial call through (0 unless it is open)."""
        if self.breaker.current_state != pybreaker.STATE_OPEN or self._opened_at.moment is None:
            return 0.0
        reset = float(self.breaker.reset_timeout)
        waited = self._clock() - self._opened_at.moment
        return min(reset, max(0.0, reset - waited))

    def _metadata(self, request_id: str | None) -> list[tuple[str, str]]:
        metadata: list[tuple[str, str]] = []
        token = self._credential()
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        if request_id:
            metadata.append(("x-request-id", request_id))
        return metadata

    def call(
        self,
        method: str,
        request: Any,
        *,
        request_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """Calls `method` on the stub with a deadline, retries transient failures with
        backoff and jitter, and raises UpstreamUnavailable when the target is out of reach.
        Other gRPC errors (a refused rule set, say) propagate as grpc.RpcError."""
        policy = retry or RetryPolicy(attempts=1)
        rpc = getattr(self._stub, method)
        last: BaseException | None = None
        for attempt in range(policy.attempts):
            try:
                return self.breaker.call(
                    rpc, request, timeout=self.deadline, metadata=self._metadata(request_id)
                )
            except pybreaker.CircuitBreakerError as error:
                raise UpstreamUnavailable(f"{self.address}: circuit breaker open") from error
            except grpc.RpcError as error:
                if not _is_channel_failure(error):
                    raise
                last = error
                if attempt + 1 < policy.attempts:
                    time.sleep(policy.delay(attempt))
        detail = last.details() if isinstance(last, grpc.RpcError) else str(last)
        code = last.code().name if isinstance(last, grpc.RpcError) else "UNKNOWN"
        raise UpstreamUnavailable(f"{self.address}: {code} {detail}")

    def close(self) -> None:
        self._channel.close()


def parse_targets(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


__all__ = [
    "CREDENTIAL_REFUSED",
    "SERVICE_ACCOUNT",
    "PacketTarget",
    "RetryPolicy",
    "UpstreamUnavailable",
    "describe_failure",
    "packet_pb2",
    "parse_targets",
]
