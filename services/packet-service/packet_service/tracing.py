"""OpenTelemetry tracing of the gRPC server, on only when an OTLP endpoint is configured
(rookery_common.tracing decides and builds the provider and exporter; when off nothing is
imported from the SDK and no interceptor is added, so the packet path runs exactly as
without this module).

When on, it traces incoming gRPC: one SERVER span per RPC, child of the caller's W3C
`traceparent`, and never more: a StreamClassify or Ingest stream of many batches is one
span, and nothing here touches a packet or a batch. The interceptor runs before
authentication, so refused calls have spans too. Health and reflection are not traced
(OTEL_PYTHON_GRPC_EXCLUDED_SERVICES, a comma list of full service names, replaces that
list).

Hand-written:
- `ServerSpans`, the interceptor. opentelemetry-instrumentation-grpc's does the same job
  but costs more on the Classify path: per call it builds a new method handler, a dict of
  the metadata, parses the peer address and wraps the servicer context in a proxy that
  every context call goes through. This one wraps each method's handler once and per call
  only extracts `traceparent` and opens one span (rpc.system/service/method attributes).
  bench/packet_bench.py (f) measures what is left.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import grpc
from rookery_common.tracing import (
    UNTRACED_GRPC_SERVICES,
    add_trace_ids,
    start_provider,
    tracing_enabled,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

SERVICE_NAME = "packet-service"

__all__ = ["ServerSpans", "add_trace_ids", "setup_tracing", "tracing_enabled"]


def setup_tracing(version: str = "") -> list[grpc.ServerInterceptor]:
    """The interceptors that trace the gRPC server: none (and nothing loaded) when tracing
    is off. `serve` passes them to the server, outermost."""
    provider = start_provider(SERVICE_NAME, version)
    if provider is None:
        return []
    excluded = os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES")
    untraced = UNTRACED_GRPC_SERVICES if excluded is None else excluded.split(",")
    return [ServerSpans(provider.get_tracer("packet_service"), untraced)]


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

    def _wrap(self, handler: Any, method: str, attributes: dict[str, str]) -> grpc.RpcMethodHandler:
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
