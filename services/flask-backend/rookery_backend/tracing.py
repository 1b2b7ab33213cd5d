"""OpenTelemetry tracing, on only when an OTLP endpoint is configured.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and
OTEL_SDK_DISABLED is not true): then nothing is imported from the SDK, nothing is patched
and the only cost left is one call per reconcile round that finds tracing off.

When on, the SDK reads the standard variables itself (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER/_ARG, OTEL_BSP_*, OTEL_EXPORTER_OTLP_*
headers and timeouts); this module only picks the exporter OTEL_EXPORTER_OTLP_PROTOCOL
names (http/protobuf by default, or grpc) and instruments, with the contrib packages:

- incoming HTTP: the Flask app (opentelemetry-instrumentation-flask, a span per request,
  parent taken from the W3C `traceparent` the web UI's proxy sends; /healthz, /readyz and
  /metrics are left out unless OTEL_PYTHON_FLASK_EXCLUDED_URLS says otherwise);
- outgoing gRPC to packet-service: every channel made after `setup_tracing` (the
  instrumentor wraps grpc.insecure_channel/secure_channel), which injects `traceparent`;
- incoming gRPC AuthService calls: every grpc.server made after `setup_tracing`.

Hand-written, because no instrumentation library knows about them:
- `root_span`: the rule publisher runs on its own thread, so its calls have no request to
  belong to; each round gets a fresh root span, and its gRPC calls are children of it.
- `TraceIdFilter`: puts trace_id/span_id on log lines written inside a span, so a log line
  leads to its trace (opentelemetry-instrumentation-logging would replace the log record
  factory process-wide; a handler filter is all the JSON formatter needs).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from flask import Flask
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("rookery.tracing")

SERVICE_NAME = "flask-backend"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
UNTRACED_URLS = "healthz,readyz,metrics"
UNTRACED_GRPC_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")

P = ParamSpec("P")
R = TypeVar("R")

_provider: TracerProvider | None = None


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """An OTLP endpoint is set and the SDK is not switched off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup_tracing(app: Flask, version: str = "") -> TracerProvider | None:
    """Instrument `app` and the process's gRPC channels and servers; None when tracing is
    off. Call before any channel or server exists (create_app does, first thing)."""
    provider = _start_provider(version)
    if provider is None:
        return None
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    excluded = os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS", UNTRACED_URLS)
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, excluded_urls=excluded)
    return provider


def _start_provider(version: str) -> TracerProvider | None:
    global _provider
    if _provider is not None or not tracing_enabled():
        return _provider
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import (
        GrpcInstrumentorClient,
        GrpcInstrumentorServer,
        filters,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=_resource(Resource, version))
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    GrpcInstrumentorClient().instrument(tracer_provider=provider)
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


def root_span(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function in a new trace (no parent, whatever is current), when
    tracing is on; a plain call otherwise."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            if _provider is None:
                return func(*args, **kwargs)
            from opentelemetry import context, trace

            tracer = trace.get_tracer("rookery_backend")
            with tracer.start_as_current_span(name, context=context.Context()):
                return func(*args, **kwargs)

        return traced

    return decorate


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
