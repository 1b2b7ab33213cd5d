"""JSON-lines logging with the request id on every line logged during a request."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from flask import g, has_request_context

from .tracing import add_trace_ids

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

VERBOSITY_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context() and g.get("request_id"):
            entry["request_id"] = g.request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(verbosity: int) -> None:
    """-v info, -vv debug for Rookery, -vvv debug for the libraries as well."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    add_trace_ids(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    level = VERBOSITY_LEVELS.get(min(verbosity, 2), logging.DEBUG)
    logging.getLogger("rookery").setLevel(level)
    # Start-up lines (URL, docs, default admin) are always shown.
    logging.getLogger("rookery.startup").setLevel(logging.INFO)
