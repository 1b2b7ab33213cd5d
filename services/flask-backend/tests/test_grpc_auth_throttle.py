"""The AuthService's per-caller token bucket, on an injected clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rookery_backend.config import RateLimit
from rookery_backend.grpc_auth import CallerThrottle


@dataclass(slots=True)
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_gets_its_burst_then_one_request_per_refill() -> None:
    clock = Clock()
    throttle = CallerThrottle(RateLimit(3, 60), clock)  # 3 at once, then one per 20 s
    assert [throttle.spend("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.spend("a") == 20.0
    assert throttle.spend("b") == 0.0  # every caller has its own bucket
    clock.now += 19.0
    assert throttle.exhausted("a") == pytest.approx(1.0)
    assert throttle.spend("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert throttle.exhausted("a") == 0.0  # looking spends nothing
    assert throttle.spend("a") == 0.0 and throttle.spend("a") == 20.0


def test_the_bucket_never_holds_more_than_the_burst() -> None:
    clock = Clock()
    throttle = CallerThrottle(RateLimit(2, 1), clock)
    throttle.spend("a")
    clock.now += 3600.0
    assert [throttle.spend("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_forgotten_callers_start_full_and_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = CallerThrottle(RateLimit(1, 60), clock, max_callers=2)
    for caller in ("a", "b", "c"):
        assert throttle.spend(caller) == 0.0
    assert throttle.spend("c") > 0  # remembered
    assert throttle.spend("a") == 0.0  # the least recently seen was forgotten
