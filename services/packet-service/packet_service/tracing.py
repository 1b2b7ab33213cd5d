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

Sampling. A call that carries the caller's trace (`traceparent`) follows the caller's
decision, so a trace from the browser through flask-backend is complete here too. A call
that starts a trace (a sensor feeding packets) is traced with probability ROOT_SHARE
(0.1) unless OTEL_TRACES_SAMPLER says otherwise: `parentbased_traceidratio` with
OTEL_TRACES_SAMPLER_ARG sets the share, `parentbased_always_on` traces every call,
`parentbased_always_off` none; any other sampler is handed to the SDK unchanged. The
interceptor makes those decisions itself before touching the SDK, so an untraced call
costs a metadata scan and a random draw, not a non-recording span: on the Classify path a
span costs about ten times its warm-loop price (the call's numpy work leaves the caches
cold), which made tracing every data-plane call cost 10 to 20 % of its CPU.

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
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
ROOT_SHARE = 0.1  # of calls that start a trace, when OTEL_TRACES_SAMPLER is not set

__all__ = ["ServerSpans", "add_trace_ids", "root_share", "setup_tracing", "tracing_enabled"]


def setup_tracing(version: str = "") -> list[grpc.ServerInterceptor]:
    """The interceptors that trace the gRPC server: none (and nothing loaded) when tracing
    is off. `serve` passes them to the server, outermost."""
    if not tracing_enabled():
        return []
    share = root_share(os.environ)
    sampler = None
    if share is not None:  # the interceptor samples; what reaches the SDK is kept
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

        sampler = ParentBased(ALWAYS_ON)
    provider = start_provider(SERVICE_NAME, version, sampler)
    if provider is None:
        return []
    excluded = os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES")
    untraced = UNTRACED_GRPC_SERVICES if excluded is None else excluded.split(",")
    return [ServerSpans(provider.get_tracer("packet_service"), untraced, share)]


def root_share(environ: Mapping[str, str]) -> float | None:
    """The share of trace-starting calls to trace, for the samplers the interceptor
    implements itself (parent-based ones); None for any other, left to the SDK. A bad
    OTEL_TRACES_SAMPLER_ARG means 1.0, as the SDK reads it."""
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        return ROOT_SHARE
    if name == "parentbased_always_on":
        return 1.0
    if name == "parentbased_always_off":
        return 0.0
    if name != "parentbased_traceidratio":
        return None
    try:
        share = float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        return 1.0
    return share if 0.0 <= share <= 1.0 else 1.0


class ServerSpans(grpc.ServerInterceptor):
    """One SERVER span per RPC, parented by the caller's propagated context."""

    def __init__(
        self,
        tracer: Tracer,
        untraced: Iterable[str] = (),
        root_share: float | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        """`root_share`: trace that share of calls without a sampled caller trace, and
        no call whose caller's trace is unsampled (None: every call reaches the SDK's
        sampler). `draw` gives numbers in [0, 1) for that decision."""
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import SpanKind

        self._tracer = tracer
        self._extract = propagate.extract
        self._attach, self._detach = context.attach, context.detach
        self._set_in_context = trace.set_span_in_context
        self._root_share = root_share
        self._draw = draw
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
        """The RPC's span, started and made current; `_close` ends it. Done by hand rather
        than with `start_as_current_span`: its two generator-based context managers cost
        about a third of a span's CPU on the Classify path."""
        metadata = context.invocation_metadata()
        if self._root_share is not None:
            flags = _trace_flags(metadata)
            if flags is None:  # this call starts a trace
                if self._root_share < 1.0 and self._draw() >= self._root_share:
                    return None
            elif not flags & 1:  # the caller's trace is not sampled
                return None
        parent = self._extract(metadata, getter=_METADATA) if metadata else None
        span = self._tracer.start_span(method, parent, self._kind, attributes)
        return span, self._attach(self._set_in_context(span))

    def _close(self, opened: Any, error: BaseException | None) -> None:
        if opened is None:  # not sampled
            return
        span, token = opened
        self._detach(token)
        # Span.__exit__ records the exception and an ERROR status, as the SDK's own
        # context managers do, then ends the span.
        span.__exit__(type(error) if error else None, error, None)

    def _wrap(self, handler: Any, method: str, attributes: dict[str, str]) -> grpc.RpcMethodHandler:
        options = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.response_streaming:
            stream = handler.unary_stream or handler.stream_stream

            def streaming(request: Any, context: Any) -> Iterator[Any]:
                opened = self._span(method, attributes, context)  # the whole stream: one span
                try:
                    yield from stream(request, context)
                except BaseException as error:
                    self._close(opened, error)
                    raise
                self._close(opened, None)

            if handler.request_streaming:
                return grpc.stream_stream_rpc_method_handler(streaming, **options)
            return grpc.unary_stream_rpc_method_handler(streaming, **options)
        call = handler.unary_unary or handler.stream_unary

        def unary(request: Any, context: Any) -> Any:
            opened = self._span(method, attributes, context)
            try:
                reply = call(request, context)
            except BaseException as error:
                self._close(opened, error)
                raise
            self._close(opened, None)
            return reply

        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(unary, **options)
        return grpc.unary_unary_rpc_method_handler(unary, **options)


def _trace_flags(metadata: Sequence[tuple[str, str]] | None) -> int | None:
    """The trace-flags byte of a well-formed W3C `traceparent` (version 00: 55 characters,
    "00-<32 hex>-<16 hex>-<2 hex>"), or None: no caller trace (a malformed one is no trace
    to the SDK's propagator either)."""
    for name, value in metadata or ():
        if name == "traceparent":
            if len(value) != 55 or value[2] != "-" or value[52] != "-":
                return None
            try:
                return int(value[53:], 16)
            except ValueError:
                return None
    return None


class _MetadataGetter:
    """Reads propagation headers from gRPC metadata, a sequence of (key, value) pairs."""

    def get(self, carrier: Sequence[tuple[str, str]], key: str) -> list[str] | None:
        return [value for name, value in carrier if name == key] or None

    def keys(self, carrier: Sequence[tuple[str, str]]) -> list[str]:
        return [name for name, _ in carrier]


_METADATA = _MetadataGetter()
