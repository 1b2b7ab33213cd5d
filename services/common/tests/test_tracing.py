"""rookery_common.tracing: on only with an OTLP endpoint, and log lines written inside a
span carry its ids. (Each service's tests check what it instruments, in a fresh
interpreter, against a real OTLP/HTTP receiver.)"""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from rookery_common.tracing import TraceIdFilter, add_trace_ids, tracing_enabled


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_on_only_with_an_otlp_endpoint(env: dict[str, str], on: bool) -> None:
    assert tracing_enabled(env) is on


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_log_lines_inside_a_span_carry_its_ids() -> None:
    """The filter puts the ids on the record; the JSON formatter writes every such field
    (the trio test reads them from a real service's log)."""
    handler = Collect()
    handler.addFilter(TraceIdFilter())
    logger = logging.getLogger("rookery.test_tracing")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    tracer = TracerProvider().get_tracer("test")  # a local provider: no global state
    try:
        logger.info("outside")
        with tracer.start_as_current_span("work") as span:
            logger.info("inside")
        ids = span.get_span_context()
    finally:
        logger.removeHandler(handler)
    outside, inside = handler.records
    assert not hasattr(outside, "trace_id") and not hasattr(outside, "span_id")
    assert inside.trace_id == format(ids.trace_id, "032x")  # type: ignore[attr-defined]
    assert inside.span_id == format(ids.span_id, "016x")  # type: ignore[attr-defined]


def test_the_log_hook_adds_the_filter_only_when_tracing_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    off = logging.Handler()
    add_trace_ids(off)
    assert off.filters == []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    on = logging.Handler()
    add_trace_ids(on)
    assert [type(f) for f in on.filters] == [TraceIdFilter]
