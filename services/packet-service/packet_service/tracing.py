"""OpenTelemetry tracing of the gRPC server, on only when an OTLP endpoint is configured.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and
OTEL_SDK_DISABLED is not true): then nothing is imported from the SDK and nothing is
patched, so the packet path runs exactly as without this module.

When on, the SDK reads the standard variables itself (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER/_ARG, OTEL_BSP_*, OTEL_EXPORTER_OTLP_*
headers and timeouts); this module only picks the exporter OTEL_EXPORTER_OTLP_PROTOCOL
names (http/protobuf by default, or grpc) and instruments incoming gRPC with
opentelemetry-instrumentation-grpc: its server interceptor, placed first (outermost, so
authentication happens inside the span), makes one span per RPC whose parent is the
caller's W3C `traceparent`. One span per RPC and never more: a StreamClassify or Ingest
stream of many batches is one span, and nothing here touches packets or batches. Health
and reflection RPCs are not traced unless OTEL_PYTHON_GRPC_EXCLUDED_SERVICES says
otherwise.

Hand-written: `TraceIdFilter`, which puts trace_id/span_id on log lines written inside a
span (a handler filter is all the JSON formatter needs; the contrib logging
instrumentation would replace the log record factory process-wide).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("packet_service.tracing")

SERVICE_NAME = "packet-service"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
UNTRACED_GRPC_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")

_provider: TracerProvider | None = None


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """An OTLP endpoint is set and the SDK is not switched off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup_tracing(version: str = "") -> TracerProvider | None:
    """Trace every gRPC server built after this call; None (and nothing done) when tracing
    is off. `serve` calls it before the server is built."""
    global _provider
    if _provider is not None or not tracing_enabled():
        return _provider
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorServer, filters
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=_resource(Resource, version))
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    if os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES"):
        server_filter = None  # the instrumentor reads the variable itself
    else:
        untraced = [filters.service_name(name) for name in UNTRACED_GRPC_SERVICES]
        server_filter = filters.negate(filters.any_of(*untraced))
    GrpcInstrumentorServer(filter_=server_filter).instrument(tracer_provider=provider)
    _provider = provider
    log.info("tracing on", extra={"otlp_protocol": _protocol()})
    return provider


def _resource(resource_cls: Any, version: str) -> Any:
    """OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win; this service's name otherwise."""
    detected = resource_cls.create({"service.version": version} if version else {})
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        detected = detected.merge(resource_cls({"service.name": SERVICE_NAME}))
    return detected


def _protocol() -> str:
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def _exporter() -> Any:
    """The OTLP exporter for the configured protocol; endpoint, headers, timeout and
    compression come from the OTEL_EXPORTER_OTLP_* variables, read by the exporter."""
    if _protocol() == "grpc":
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
