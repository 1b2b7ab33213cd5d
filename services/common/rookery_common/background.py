"""The lifecycle every background loop shares: a daemon thread calling `step()` until
`stop()`, waiting `interval` seconds between steps unless `wake()` cuts the wait short;
an exception from a step is logged and the loop goes on; after the thread ended,
`close()` releases what the loop holds (socket, ring, channels).

Failures are logged per state change (logs.StateLog): the first failing step logs one
warning with its traceback, the retries that follow are only counted, and the first step
that works again logs one line saying for how long and how often it failed. A database
outage is then two lines, not a traceback every interval.

A step may return a number of seconds: the next step then comes after that long when it is
sooner than `interval` (a retry that has a known moment, such as a circuit breaker's reset).

Either pass `step=` or subclass and override `step()` (and `close()`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .logs import StateLog

__all__ = ["BackgroundLoop"]

_log = logging.getLogger("rookery.background")


class BackgroundLoop:
    def __init__(
        self,
        name: str,
        interval: float = 0.0,
        step: Callable[[], float | None] | None = None,
        log: logging.Logger | None = None,
        error_pause: float = 0.1,
    ) -> None:
        self.name = name
        self.interval = interval
        self._step = step
        self._log = log or _log
        self._error_pause = error_pause  # no busy loop on a step that keeps failing
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.state = StateLog(self._log, f"{name}: step")

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def wake(self) -> None:
        """Run the next step now instead of after the rest of the interval."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        self.close()

    def step(self) -> float | None:
        if self._step is None:  # pragma: no cover - a subclass overrides step()
            raise NotImplementedError
        return self._step()

    def close(self) -> None:
        """Release the loop's resources once it has ended."""

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = self.interval
            try:
                sooner = self.step()
            except Exception as error:  # the loop must outlive any single failure
                if self._stop.is_set():
                    return  # stop() closed what the step was using: expected
                self.state.down(f"{type(error).__name__}: {error}", error, loop=self.name)
                pause = max(pause, self._error_pause)
            else:
                if self.state.is_down:
                    self.state.up(loop=self.name)
                if isinstance(sooner, int | float) and 0 <= sooner < pause:
                    pause = max(float(sooner), self._error_pause)
            if pause > 0 and not self._stop.is_set():
                self._wake.wait(pause)
                self._wake.clear()
