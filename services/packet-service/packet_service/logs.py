"""JSON-lines logging on stderr; -v/-vv/-vvv raise the verbosity."""

from __future__ import annotations

import json
import logging
import sys
import time

from packet_service.tracing import add_trace_ids

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = (
                    value if isinstance(value, int | float | str | bool | None) else str(value)
                )
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


def setup_logging(verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    add_trace_ids(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(verbosity, logging.DEBUG))
    # -vvv also shows the libraries' debug chatter; below that only ours.
    logging.getLogger("grpc").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
