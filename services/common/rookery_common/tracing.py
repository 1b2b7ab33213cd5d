"""The part of OpenTelemetry tracing every service does the same way: whether tracing is
on, the tracer provider with its OTLP exporter, and trace ids on log lines. What each
service instruments (Flask and gRPC channels, or its own gRPC server interceptor) stays
in the service's own tracing module.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and
OTEL_SDK_DISABLED is not true, and OTEL_TRACES_EXPORTER is not none): then nothing is
imported from the SDK. When on, the SDK reads the standard variables itself
(OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER/_ARG, OTEL_BSP_*,
OTEL_EXPORTER_OTLP_* headers and timeouts); this module only picks the exporter that
OTEL_EXPORTER_OTLP_PROTOCOL names (http/protobuf by default, or grpc).

`TraceIdFilter` is hand-written: opentelemetry-instrumentation-logging would replace the
log record factory process-wide, and a handler filter is all the JSON formatter needs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("rookery.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# Probes and tooling, not work worth a trace.
UNTRACED_GRPC_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")

_provider: TracerProvider | None = None


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """An OTLP endpoint is set and the SDK is not switched off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def current_provider() -> TracerProvider | None:
    """The provider `start_provider` set up in this process, or None (tracing off)."""
    return _provider


def start_provider(
    service_name: str, version: str = "", sampler: Any = None
) -> TracerProvider | None:
    """The process's tracer provider exporting over OTLP (made once, then reused); None
    when tracing is off. `service_name` is used unless OTEL_SERVICE_NAME or
    OTEL_RESOURCE_ATTRIBUTES name the service; `sampler` replaces the one
    OTEL_TRACES_SAMPLER names (for a service that samples part of the way itself)."""
    global _provider
    if _provider is not None or not tracing_enabled():
        return _provider
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        sampler=sampler, resource=_resource(Resource, service_name, version)
    )
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing on", extra={"otlp_protocol": otlp_protocol()})
    return provider


def _resource(resource_cls: Any, service_name: str, version: str) -> Any:
    detected = resource_cls.create({"service.version": version} if version else {})
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        detected = detected.merge(resource_cls({"service.name": service_name}))
    return detected


def otlp_protocol() -> str:
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def _exporter() -> Any:
    """The OTLP exporter for the configured protocol; endpoint, headers, timeout and
    compression come from the OTEL_EXPORTER_OTLP_* variables, read by the exporter."""
    if otlp_protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    return OTLPSpanExporter()


class TraceIdFilter(logging.Filter):
    """Adds trace_id and span_id (hex, as trace back-ends show them) to records logged
    while a span is active; records outside a span pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def add_trace_ids(handler: logging.Handler) -> None:
    """Hook `TraceIdFilter` onto a log handler when tracing is on (nothing otherwise)."""
    if tracing_enabled():
        handler.addFilter(TraceIdFilter())
