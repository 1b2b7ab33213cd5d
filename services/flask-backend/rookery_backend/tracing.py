"""OpenTelemetry tracing of flask-backend, on only when an OTLP endpoint is configured
(rookery_common.tracing decides, builds the provider and puts trace ids on log lines).

When on, it instruments, with the contrib packages:
- incoming HTTP: the Flask app (opentelemetry-instrumentation-flask, a span per request,
  parent taken from the W3C `traceparent` the web UI's proxy sends; /healthz, /readyz and
  /metrics are left out unless OTEL_PYTHON_FLASK_EXCLUDED_URLS says otherwise);
- outgoing gRPC to packet-service: every channel made after `setup_tracing` (the
  instrumentor wraps grpc.insecure_channel/secure_channel), which injects `traceparent`;
- incoming gRPC AuthService calls: every grpc.server made after `setup_tracing`.

Hand-written, because no instrumentation library knows about it: `root_span`. The rule
publisher runs on its own thread, so its calls have no request to belong to; each round
gets a fresh root span, and its gRPC calls are children of it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from rookery_common.tracing import (
    UNTRACED_GRPC_SERVICES,
    add_trace_ids,
    current_provider,
    start_provider,
    tracing_enabled,
)

if TYPE_CHECKING:
    from flask import Flask
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("rookery.tracing")

SERVICE_NAME = "flask-backend"
UNTRACED_URLS = "healthz,readyz,metrics"

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["add_trace_ids", "root_span", "setup_tracing", "tracing_enabled"]


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
    already = current_provider()
    provider = start_provider(SERVICE_NAME, version)
    if provider is None or provider is already:
        return provider
    from opentelemetry.instrumentation.grpc import (
        GrpcInstrumentorClient,
        GrpcInstrumentorServer,
        filters,
    )

    GrpcInstrumentorClient().instrument(tracer_provider=provider)
    if os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES"):
        server_filter = None  # the instrumentor reads the variable itself
    else:
        untraced = [filters.service_name(name) for name in UNTRACED_GRPC_SERVICES]
        server_filter = filters.negate(filters.any_of(*untraced))
    GrpcInstrumentorServer(filter_=server_filter).instrument(tracer_provider=provider)
    return provider


def root_span(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function in a new trace (no parent, whatever is current), when
    tracing is on; a plain call otherwise."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            if current_provider() is None:
                return func(*args, **kwargs)
            from opentelemetry import context, trace

            tracer = trace.get_tracer("rookery_backend")
            with tracer.start_as_current_span(name, context=context.Context()):
                return func(*args, **kwargs)

        return traced

    return decorate
