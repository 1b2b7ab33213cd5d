"""OpenTelemetry tracing of the gRPC server, on only when an OTLP endpoint is configured.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and
OTEL_SDK_DISABLED is not true): then nothing is imported from the SDK and no interceptor is
added, so the packet path runs exactly as without this module.

When on, the SDK reads the standard variables itself (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER/_ARG, OTEL_BSP_*, OTEL_PROPAGATORS,
OTEL_EXPORTER_OTLP_* headers and timeouts); this module picks the exporter
OTEL_EXPORTER_OTLP_PROTOCOL names (http/protobuf by default, or grpc) and traces incoming
gRPC: one SERVER span per RPC, child of the caller's W3C `traceparent`, and never more: a
StreamClassify or Ingest stream of many batches is one span, and nothing here touches a
packet or a batch. The interceptor runs before authentication, so refused calls have spans
too. Health and reflection are not traced (OTEL_PYTHON_GRPC_EXCLUDED_SERVICES, a comma list
of full service names, replaces that list).

Hand-written:
- `ServerSpans`, the interceptor. opentelemetry-instrumentation-grpc's does the same job
  but costs more on the Classify path: per call it builds a new method handler, a dict of
  the metadata, parses the peer address and wraps the servicer context in a proxy that
  every context call goes through. This one wraps each method's handler once and per call
  only extracts `traceparent` and opens one span (rpc.system/service/method attributes).
  bench/packet_bench.py (f) measures what is left.
- `TraceIdFilter`, which puts trace_id/span_id on log lines written inside a span (a handler
  filter is all the JSON formatter needs; the contrib logging instrumentation would
  replace the log record factory process-wide).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

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


def setup_tracing(version: str = "") -> list[grpc.ServerInterceptor]:
    """The interceptors that trace the gRPC server: none (and nothing loaded) when tracing
    is off. `serve` passes them to the server, outermost."""
    global _provider
    if not tracing_enabled():
        return []
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if _provider is None:
        _provider = TracerProvider(resource=_resource(Resource, version))
        _provider.add_span_processor(BatchSpanProcessor(_exporter()))
        trace.set_tracer_provider(_provider)
        log.info("tracing on", extra={"otlp_protocol": _protocol()})
    excluded = os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES")
    untraced = UNTRACED_GRPC_SERVICES if excluded is None else excluded.split(",")
    return [ServerSpans(_provider.get_tracer("packet_service"), untraced)]


class ServerSpans(grpc.ServerInterceptor):
    """One SERVER span per RPC, parented by the caller's propagated context."""

    def __init__(self, tracer: Tracer, untraced: Iterable[str] = ()) -> None:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind

        self._tracer = tracer
        self._extract = propagate.extract
        self._kind = SpanKind.SERVER
        self._untraced = frozenset(name.strip() for name in untraced)
        # method → (the handler as given, the same handler with spans)
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        service, _, name = method.lstrip("/").partition("/")
        if handler is None or service in self._untraced:
            return handler
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        wrapped = self._wrap(handler, method, attributes)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _span(self, method: str, attributes: dict[str, str], context: Any) -> Any:
        metadata = context.invocation_metadata()
        parent = self._extract(metadata, getter=_METADATA) if metadata else None
        return self._tracer.start_as_current_span(
            method, context=parent, kind=self._kind, attributes=attributes
        )

    def _wrap(
        self, handler: Any, method: str, attributes: dict[str, str]
    ) -> grpc.RpcMethodHandler:
        options = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.response_streaming:
            stream = handler.unary_stream or handler.stream_stream

            def streaming(request: Any, context: Any) -> Iterator[Any]:
                with self._span(method, attributes, context):  # the whole stream: one span
                    yield from stream(request, context)

            if handler.request_streaming:
                return grpc.stream_stream_rpc_method_handler(streaming, **options)
            return grpc.unary_stream_rpc_method_handler(streaming, **options)
        call = handler.unary_unary or handler.stream_unary

        def unary(request: Any, context: Any) -> Any:
            with self._span(method, attributes, context):
                return call(request, context)

        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(unary, **options)
        return grpc.unary_unary_rpc_method_handler(unary, **options)


class _MetadataGetter:
    """Reads propagation headers from gRPC metadata, a sequence of (key, value) pairs."""

    def get(self, carrier: Sequence[tuple[str, str]], key: str) -> list[str] | None:
        return [value for name, value in carrier if name == key] or None

    def keys(self, carrier: Sequence[tuple[str, str]]) -> list[str]:
        return [name for name, _ in carrier]


_METADATA = _MetadataGetter()


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
