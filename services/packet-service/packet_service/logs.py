"""packet-service's logging: the shared JSON lines (rookery_common.logs) on stderr, with the
trace ids when tracing is on; -v/-vv/-vvv raise the verbosity."""

from __future__ import annotations

from rookery_common.logs import setup_logging
from rookery_common.tracing import add_trace_ids


def configure_logging(verbosity: int) -> None:
    setup_logging(verbosity, own_loggers=("packet_service",), hooks=(add_trace_ids,))
