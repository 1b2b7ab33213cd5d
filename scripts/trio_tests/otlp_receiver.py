"""A real OTLP/HTTP trace receiver for tests: POST /v1/traces with a protobuf
ExportTraceServiceRequest (gzip or not), decoded with the `opentelemetry-proto` package.

    with OtlpReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, ...}
        ...
        spans = receiver.wait_for(lambda spans: len(spans) >= 3)

Import it from any harness by path (scripts/trio_tests is on sys.path in the trio suite;
other suites add it), or run it as a process of its own: `python otlp_receiver.py` prints
its endpoint and serves until its standard input closes. Only the standard library
besides opentelemetry-proto.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

TRACES_PATH = "/v1/traces"
# Span.SpanKind numbers → the names trace back-ends show
KINDS = {v: k.removeprefix("SPAN_KIND_").lower() for k, v in Span.SpanKind.items()}
STATUSES = {v: k.removeprefix("STATUS_CODE_").lower() for k, v in Status.StatusCode.items()}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root span
    name: str
    kind: str  # server, client, internal, producer, consumer, unspecified
    status: str = "unset"  # unset, ok, error
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=service,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=KINDS.get(span.kind, str(span.kind)),
                        status=STATUSES.get(span.status.code, str(span.status.code)),
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                        resource=resource,
                    )
                )
    return spans


class OtlpReceiver:
    """A loopback HTTP server collecting every span exported to it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._spans: list[ReceivedSpan] = []
        self._changed = threading.Condition()
        self.requests = 0
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self._body()
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if self.path != TRACES_PATH:
                    return self._answer(404, b"")
                if content_type != "application/x-protobuf":
                    receiver.rejected += 1
                    return self._answer(415, b"only application/x-protobuf is accepted")
                try:
                    if encoding == "gzip":
                        body = gzip.decompress(body)
                    elif encoding == "deflate":
                        body = zlib.decompress(body)
                    spans = decode_spans(body)
                except Exception as error:  # a malformed export is the sender's bug: say so
                    receiver.rejected += 1
                    return self._answer(400, str(error).encode())
                receiver._add(spans)
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

            def _body(self) -> bytes:
                if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = bytearray()  # Node's exporter streams its body in chunks
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline().strip():  # trailers, up to the blank line
                    pass
                return bytes(body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read spans, not access logs

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )

    @property
    def endpoint(self) -> str:
        """The base URL for OTEL_EXPORTER_OTLP_ENDPOINT (exporters append /v1/traces)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _add(self, spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self.requests += 1
            self._spans.extend(spans)
            self._changed.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._spans)

    def wait_for(
        self, done: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """Every span received so far, once `done(spans)` holds; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(list(self._spans)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"spans never matched in {timeout}s; received: "
                        + ", ".join(f"{s.service}:{s.name}" for s in self._spans)
                    )
                self._changed.wait(remaining)
            return list(self._spans)


def main() -> None:
    """Serve as its own process (a benchmark's collector must not share the timed
    process's GIL): prints the endpoint, serves until stdin closes, then prints the
    number of spans received."""
    with OtlpReceiver() as receiver:
        print(receiver.endpoint, flush=True)
        sys.stdin.read()
        print(len(receiver.spans()), flush=True)


if __name__ == "__main__":
    main()
