"""flask-backend's logging: the shared JSON lines (rookery_common.logs) with the request id
on every line logged during a request, and the trace ids when tracing is on. Every module
logs under the `rookery` logger (`rookery.http`, `rookery.rules.publisher`, …), which -v
raises; identical warnings and errors (a database outage refusing every request) are
written once per 10 s with the count of those held back (rookery_common.logs.RepeatFilter)."""

from __future__ import annotations

import logging

from flask import g, has_request_context
from rookery_common.logs import quiet_repeats, setup_logging

from .tracing import add_trace_ids


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and g.get("request_id"):
            record.request_id = g.request_id
        return True


OWN_LOGGER = "rookery"


def add_request_id(handler: logging.Handler) -> None:
    handler.addFilter(RequestIdFilter())


def configure_logging(verbosity: int) -> None:
    """-v info, -vv debug for Rookery, -vvv debug for the libraries as well; the start-up
    lines (URL, docs, default admin) are always shown."""
    setup_logging(
        verbosity,
        own_loggers=(OWN_LOGGER,),
        always_shown=("rookery.startup",),
        # quiet_repeats last: it sees the record as the other filters left it.
        hooks=(add_request_id, add_trace_ids, quiet_repeats),
    )
