"""JSON lines on stderr, the same fields in every service (the web UI's Express server
writes the same names: services/webui/server/log.js).

    {"ts": "2026-05-01T12:00:00.123Z", "level": "info", "logger": "rookery.http",
     "msg": "…", "request_id": "…", …extra fields…, "exc": "Traceback …"}

`-v` shows the service's own INFO lines, `-vv` its DEBUG lines, `-vvv` the libraries'
DEBUG lines as well. What a service adds to every line (the request id of the request
being served, the trace and span ids) comes from logging filters hooked onto the one
handler: `setup_logging(..., hooks=(add_request_id, add_trace_ids))`.

An outage must not flood the log: `RepeatFilter` (hook: `quiet_repeats`) lets one of a run
of identical warnings or errors through per interval, the next one carrying how many were
held back (`repeated`); `StateLog` gives a background loop one line when something it
depends on goes away and one when it is back, instead of a line or a traceback per retry.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "FIELDS",
    "VERBOSITY_LEVELS",
    "JsonFormatter",
    "RepeatFilter",
    "StateLog",
    "quiet_repeats",
    "setup_logging",
]

# The fixed fields of a line, in order; everything else on a line is a record's `extra`.
FIELDS = ("ts", "level", "logger", "msg", "request_id", "exc")
VERBOSITY_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

HandlerHook = Callable[[logging.Handler], None]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(
    verbosity: int,
    own_loggers: Iterable[str],
    always_shown: Iterable[str] = (),
    hooks: Iterable[HandlerHook] = (),
) -> logging.Handler:
    """One JSON handler on the root logger. `own_loggers` (the service's logger names)
    follow -v/-vv; every other logger shows warnings, or everything with -vvv.
    `always_shown` loggers show INFO at any verbosity (start-up lines). Each of `hooks`
    is called with the handler: the place to add a logging filter (request id, trace)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for hook in hooks:
        hook(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    own_level = VERBOSITY_LEVELS.get(min(max(verbosity, 0), 2), logging.DEBUG)
    for name in own_loggers:
        logging.getLogger(name).setLevel(own_level)
    for name in always_shown:
        logging.getLogger(name).setLevel(min(own_level, logging.INFO))
    return handler


# What tells one request's line from the next one's, not one event from another.
_CORRELATION = frozenset(("request_id", "trace_id", "span_id"))
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RepeatFilter(logging.Filter):
    """Rate-limits identical records of `level` and above: records are identical when they
    share logger, level, message (as formatted), exception type and extra fields other
    than request and trace ids. So a flood of one refused request's error is one line,
    while two users' reset mails (logged when no mail server is set) or two targets'
    refusals stay two lines. The first passes; the
    repeats within `interval` seconds are counted and dropped; the first one after the
    interval passes with `repeated` = how many were dropped since the last line. Lower
    levels (a request's INFO line) always pass. `clock` is injectable for tests."""

    def __init__(
        self,
        interval: float = 10.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self._clock = clock
        self._max_keys = max_keys
        self._seen: dict[tuple[Any, ...], list[float]] = {}  # key -> [since, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        exc_type = record.exc_info[0] if record.exc_info else None
        extras = tuple(
            sorted(
                (name, repr(value))
                for name, value in vars(record).items()
                if name not in _RECORD_FIELDS and name not in _CORRELATION
            )
        )
        key = (record.name, record.levelno, record.getMessage(), exc_type, extras)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.interval:
                seen[1] += 1
                return False
            if seen is not None and seen[1]:
                record.repeated = int(seen[1])
            self._seen.pop(key, None)
            self._seen[key] = [now, 0]
            while len(self._seen) > self._max_keys:  # oldest first: dicts keep order
                self._seen.pop(next(iter(self._seen)))
        return True


def quiet_repeats(handler: logging.Handler, interval: float = 10.0) -> None:
    """A `setup_logging` hook: identical warnings and errors at most once per interval."""
    handler.addFilter(RepeatFilter(interval))


class StateLog:
    """The state of something a background loop depends on (a database, a peer), logged
    on change only: `down(reason)` logs one warning when it goes down (the retries that
    follow are counted, not logged), `up()` logs one line when it was down, saying for how
    long and how many failures it saw. Both at WARNING by default, so whoever saw the
    outage at the default verbosity also sees its end. `clock` is injectable for tests."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        clock: Callable[[], float] = time.monotonic,
        up_level: int = logging.WARNING,
    ) -> None:
        self.log = log
        self.what = what
        self.up_level = up_level
        self.reason: str | None = None  # why it is down (the latest failure)
        self._clock = clock
        self._down_since: float | None = None
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def down(self, reason: str, error: BaseException | None = None, **extra: Any) -> None:
        """`error`, when given, puts its traceback on the line (once per outage)."""
        with self._lock:
            self._failures += 1
            first = self._down_since is None
            if first:
                self._down_since = self._clock()
            self.reason = reason
        if first:
            self.log.warning(
                f"{self.what} unavailable", extra={"error": reason, **extra}, exc_info=error
            )

    def up(self, **extra: Any) -> None:
        with self._lock:
            since, failures = self._down_since, self._failures
            self._down_since, self.reason, self._failures = None, None, 0
        if since is not None:
            self.log.log(
                self.up_level,
                f"{self.what} available again",
                extra={
                    "down_seconds": round(self._clock() - since, 3),
                    "failures": failures,
                    **extra,
                },
            )
