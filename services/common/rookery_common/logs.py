"""JSON lines on stderr, the same fields in every service (the web UI's Express server
writes the same names: services/webui/server/log.js).

    {"ts": "2026-05-01T12:00:00.123Z", "level": "info", "logger": "rookery.http",
     "msg": "…", "request_id": "…", …extra fields…, "exc": "Traceback …"}

`-v` shows the service's own INFO lines, `-vv` its DEBUG lines, `-vvv` the libraries'
DEBUG lines as well. What a service adds to every line (the request id of the request
being served, the trace and span ids) comes from logging filters hooked onto the one
handler: `setup_logging(..., hooks=(add_request_id, add_trace_ids))`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["FIELDS", "VERBOSITY_LEVELS", "JsonFormatter", "setup_logging"]

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
