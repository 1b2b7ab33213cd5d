"""One trace from the browser's request to packet-service, exported over real OTLP/HTTP.

The web UI's Express server, flask-backend and packet-service run as their own processes
with only the standard OTEL_* variables set, pointed at a real OTLP/HTTP receiver on
loopback (otlp_receiver.py decodes each export with opentelemetry-proto). A request sent
through Express with a W3C `traceparent` must come back as spans of that one trace from
all three services, each parented by the span that called it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import requests
from otlp_receiver import OtlpReceiver, ReceivedSpan
from packet_service.gen import packet_pb2, packet_pb2_grpc
from trio import ROOT, Proc, Trio, batch_of, free_port, udp_frame

WEBUI_DIR = ROOT / "services" / "webui"


@dataclass
class Traced:
    trio: Trio
    webui_port: int
    receiver: OtlpReceiver

    @property
    def webui_api(self) -> str:
        return f"http://127.0.0.1:{self.webui_port}/api/v1"


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[Traced]:
    with OtlpReceiver() as receiver:
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans leave quickly, the test waits less
        }
        trio = Trio(tmp_path).build(backend_env=otel, packet_env=otel)
        port = free_port()
        webui = Proc(
            "webui",
            ["node", "server/index.js"],
            WEBUI_DIR,
            {
                **otel,
                "PORT": str(port),
                "HOST": "127.0.0.1",
                "FLASK_API_URL": trio.api.rsplit("/api", 1)[0],
            },
            f"http://127.0.0.1:{port}/healthz",
            tmp_path / "webui.log",
        )
        assert trio.backend and trio.packet
        try:
            trio.packet.start()
            trio.backend.start()
            webui.start()
            yield Traced(trio, port, receiver)
        finally:
            webui.stop()
            trio.backend.stop()
            trio.packet.stop()


def traceparent() -> tuple[str, str, str]:
    """A fresh sampled W3C traceparent: (header, trace id, the caller's span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def one(spans: list[ReceivedSpan], **match: object) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one span with {match}, got {found}"
    return found[0]


def children(
    spans: list[ReceivedSpan], parent: ReceivedSpan, **match: object
) -> list[ReceivedSpan]:
    return [
        s
        for s in spans
        if s.parent_span_id == parent.span_id and all(getattr(s, k) == v for k, v in match.items())
    ]


def of_trace(trace_id: str):  # type: ignore[no-untyped-def]
    return lambda spans: [s for s in spans if s.trace_id == trace_id]


def test_stats_summary_is_one_trace_from_express_to_packet_service(traced: Traced) -> None:
    token = traced.trio.login()
    header, trace_id, browser_span = traceparent()
    reply = requests.get(
        f"{traced.webui_api}/stats/summary",
        headers={"Authorization": f"Bearer {token}", "traceparent": header},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text

    def complete(spans: list[ReceivedSpan]) -> bool:
        """Every span of the trace is in: both of Express's, Flask's, and an answer from
        packet-service to each of flask-backend's calls."""
        spans = of_trace(trace_id)(spans)
        kinds = {(s.service, s.kind) for s in spans}
        calls = [s for s in spans if (s.service, s.kind) == ("flask-backend", "client")]
        answered = {s.parent_span_id for s in spans if s.service == "packet-service"}
        return (
            {("webui", "server"), ("webui", "client"), ("flask-backend", "server")} <= kinds
            and bool(calls)
            and all(call.span_id in answered for call in calls)
        )

    spans = of_trace(trace_id)(traced.receiver.wait_for(complete))
    assert {s.service for s in spans} == {"webui", "flask-backend", "packet-service"}

    # browser → Express: the server span continues the browser's trace
    express = one(spans, service="webui", kind="server")
    assert express.parent_span_id == browser_span
    # Express → its proxied request → flask-backend's Flask span
    (proxied,) = children(spans, express, service="webui", kind="client")
    (flask,) = children(spans, proxied, service="flask-backend", kind="server")
    assert flask.attributes.get("http.route") == "/api/v1/stats/summary"
    # flask-backend's gRPC calls → packet-service's span for each
    calls = children(spans, flask, service="flask-backend", kind="client")
    assert calls, "flask-backend made no traced gRPC call"
    for call in calls:
        assert call.name.startswith("/rookery.packet.v1.PacketService/"), call.name
        (served,) = children(spans, call, service="packet-service", kind="server")
        assert served.name == call.name
        assert served.attributes.get("rpc.service") == "rookery.packet.v1.PacketService"

    # flask-backend's request log line carries the trace it was written in
    request_lines = [
        json.loads(line)
        for line in traced.trio.backend.log().splitlines()  # type: ignore[union-attr]
        if line.startswith("{") and '"msg": "request"' in line and trace_id in line
    ]
    assert request_lines, "no request log line with the trace id"
    assert request_lines[0]["trace_id"] == trace_id
    assert request_lines[0]["span_id"] == flask.span_id


def test_rule_publish_is_its_own_trace_down_to_packet_service(traced: Traced) -> None:
    token = traced.trio.login()
    reply = requests.post(
        f"{traced.webui_api}/rules",
        json={"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text

    def set_rules(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
        """packet-service's SetRules span, once its whole trace has arrived."""
        for served in spans:
            if served.service == "packet-service" and served.name.endswith("/SetRules"):
                roots = [s for s in spans if s.trace_id == served.trace_id and not s.parent_span_id]
                if roots and roots[0].service == "flask-backend":
                    return served
        return None

    spans = traced.receiver.wait_for(lambda spans: set_rules(spans) is not None)
    served = set_rules(spans)
    assert served is not None
    trace = of_trace(served.trace_id)(spans)
    root = one(trace, parent_span_id="")
    assert (root.service, root.name) == ("flask-backend", "rules.publish")
    (call,) = [s for s in trace if s.span_id == served.parent_span_id]
    assert (call.service, call.kind) == ("flask-backend", "client")
    assert call.parent_span_id == root.span_id


def test_a_stream_is_one_span_not_one_per_batch(traced: Traced) -> None:
    token = traced.trio.login()
    header, trace_id, caller = traceparent()
    data, offsets = batch_of([udp_frame("10.0.0.1", "10.0.0.53", 40000, 53)] * 8)
    batches = [packet_pb2.PacketBatch(data=data, offsets=offsets) for _ in range(5)]
    with grpc.insecure_channel(f"127.0.0.1:{traced.trio.packet_grpc_port}") as channel:
        stub = packet_pb2_grpc.PacketServiceStub(channel)
        replies = list(
            stub.StreamClassify(
                iter(batches),
                timeout=10,
                metadata=[("authorization", f"Bearer {token}"), ("traceparent", header)],
            )
        )
    assert len(replies) == 5
    spans = traced.receiver.wait_for(lambda spans: bool(of_trace(trace_id)(spans)))
    spans = traced.receiver.wait_for(
        lambda spans: any(s.service == "flask-backend" and "AuthService/" in s.name for s in spans)
    )
    (stream,) = of_trace(trace_id)(spans)
    assert (stream.service, stream.kind, stream.parent_span_id) == (
        "packet-service",
        "server",
        caller,
    )
    assert stream.name == "/rookery.packet.v1.PacketService/StreamClassify"
