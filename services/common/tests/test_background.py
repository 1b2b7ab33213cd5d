"""rookery_common.background: interval, wake-up, failures logged and survived, stop."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from rookery_common.background import BackgroundLoop
from rookery_common.testing import wait_until


def test_steps_every_interval_and_wakes_early() -> None:
    calls: list[float] = []
    loop = BackgroundLoop("ticker", interval=30.0, step=lambda: calls.append(time.monotonic()))
    loop.start()
    try:
        assert wait_until(lambda: len(calls) == 1, timeout=5)
        loop.wake()
        assert wait_until(lambda: len(calls) == 2, timeout=5)
        assert calls[1] - calls[0] < 5  # far less than the interval
    finally:
        loop.stop()
    assert not loop.running and loop.stopping


def test_a_step_may_bring_the_next_one_forward_but_not_put_it_off() -> None:
    answers = iter([0.2, 0.2, 3600.0, None])
    calls: list[float] = []

    def step() -> float | None:
        calls.append(time.monotonic())
        return next(answers, None)

    loop = BackgroundLoop("retrier", interval=30.0, step=step)
    loop.start()
    try:
        # 0.2 s twice brings steps two and three; 3600 is later than the interval: ignored
        assert wait_until(lambda: len(calls) == 3, timeout=5)
        assert not wait_until(lambda: len(calls) == 4, timeout=0.5)
    finally:
        loop.stop()


def test_a_failing_step_is_logged_once_per_outage_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = []

    def step() -> None:
        calls.append(1)
        if 1 <= len(calls) <= 5:  # an outage of five steps, then it works
            raise RuntimeError("database unavailable")

    loop = BackgroundLoop("flaky", interval=0.01, step=step, error_pause=0.01)
    with caplog.at_level(logging.INFO):
        loop.start()
        assert wait_until(lambda: len(calls) >= 8, timeout=5)
        loop.stop()
    lines = [r for r in caplog.records if r.getMessage().startswith("flaky: step")]
    assert [r.getMessage() for r in lines] == [
        "flaky: step unavailable",
        "flaky: step available again",
    ]
    assert lines[0].exc_info and "database unavailable" in lines[0].error  # type: ignore[attr-defined]
    assert lines[1].failures == 5  # type: ignore[attr-defined]


def test_subclass_close_runs_after_the_thread_ended() -> None:
    ended = threading.Event()

    class Source(BackgroundLoop):
        closed_while_running: bool | None = None

        def step(self) -> None:
            time.sleep(0.01)

        def close(self) -> None:
            self.closed_while_running = self.running
            ended.set()

    source = Source("source")
    source.start()
    assert source.running
    source.stop()
    assert ended.is_set() and source.closed_while_running is False


def test_an_error_while_stopping_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()

    def step() -> None:
        release.wait(5)
        raise OSError("socket closed under the step")

    loop = BackgroundLoop("closing", step=step)
    loop.start()
    with caplog.at_level(logging.ERROR):
        loop._stop.set()
        release.set()
        loop.stop()
    assert not [r for r in caplog.records if "closing" in r.getMessage()]
