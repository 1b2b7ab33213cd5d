"""gRPC end to end on loopback: a real server, every RPC, health, reflection, bad requests."""

from __future__ import annotations

import itertools
import json
import socket
import struct
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from packet_service import synthetic as syn
from packet_service.config import ServiceConfig
from packet_service.gen import packet_pb2, packet_pb2_grpc
from packet_service.service import PacketServiceApp


@pytest.fixture(scope="module")
def app():
    config = ServiceConfig(
        bind_address="127.0.0.1", grpc_port=0, metrics_port=0, max_batch_packets=4096
    )
    service = PacketServiceApp(config)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def channel(app):
    with grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}") as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


@pytest.fixture(scope="module")
def stub(channel):
    return packet_pb2_grpc.PacketServiceStub(channel)


def batch_message(frames, batch_id=0, timestamps=None) -> packet_pb2.PacketBatch:
    data, offsets = syn.to_batch(frames)
    message = packet_pb2.PacketBatch(
        data=data.tobytes(), offsets=offsets.astype("<u4").tobytes(), batch_id=batch_id
    )
    if timestamps is not None:
        message.timestamps = np.asarray(timestamps, dtype="<f8").tobytes()
    return message


def tcp_frame(src="10.0.0.1", dport=443):
    return syn.ethernet(syn.ipv4(src, "192.168.0.1", 6, syn.tcp(5555, dport, 0x02)), 0x0800)


RULES = packet_pb2.RuleSet(
    version=7,
    default_action="allow",
    rules=[
        packet_pb2.Rule(
            id="r1",
            name="count web",
            action="count",
            protocol="tcp",
            dst_ports=["443"],
            enabled=True,
        ),
        packet_pb2.Rule(
            id="r2",
            name="block lab",
            action="drop",
            protocol="any",
            src=["10.9.0.0/16"],
            enabled=True,
            description="lab",
        ),
        packet_pb2.Rule(
            id="r3", name="vlan 5", action="allow", protocol="any", vlan=5, enabled=False
        ),
    ],
)


def test_set_and_get_rules_round_trip(stub):
    status = stub.SetRules(RULES)
    assert status.version == 7 and status.rule_count == 3 and status.enabled_rule_count == 2
    assert stub.GetRules(packet_pb2.GetRulesRequest()) == RULES
    # the publisher's periodic check: the version in force, without the rules
    head = stub.GetRules(packet_pb2.GetRulesRequest(version_only=True))
    assert head == packet_pb2.RuleSet(version=7, default_action=RULES.default_action)


def test_classify_gives_one_verdict_per_frame_and_version_metadata(stub):
    stub.SetRules(RULES)
    frames = [tcp_frame(), tcp_frame("10.9.1.1"), b"\x00\x01", tcp_frame(dport=80)]
    reply, call = stub.Classify.with_call(batch_message(frames, batch_id=42))
    assert list(reply.verdicts) == [
        packet_pb2.VERDICT_ALLOW,
        packet_pb2.VERDICT_DROP,
        packet_pb2.VERDICT_MALFORMED,
        packet_pb2.VERDICT_ALLOW,
    ]
    assert (reply.counts.allow, reply.counts.drop, reply.counts.malformed) == (2, 1, 1)
    assert reply.batch_id == 42 and reply.ruleset_version == 7
    assert dict(call.initial_metadata())["rookery-version"]


def test_stream_classify_answers_each_batch_in_order(stub):
    batches = [batch_message([tcp_frame()] * (i + 1), batch_id=i) for i in range(5)]
    replies = list(stub.StreamClassify(iter(batches)))
    assert [r.batch_id for r in replies] == list(range(5))
    assert [len(r.verdicts) for r in replies] == [1, 2, 3, 4, 5]


def test_ingest_summarises_and_feeds_stats_and_top_flows(stub):
    before = stub.GetStats(packet_pb2.GetStatsRequest())
    frames = syn.mixed_frames(2000, seed=21)
    heavy = [tcp_frame("10.200.0.1", 8443)] * 300
    batches = [
        batch_message(frames[i : i + 500], timestamps=np.full(len(frames[i : i + 500]), 1e9))
        for i in range(0, 2000, 500)
    ]
    batches.append(batch_message(heavy))
    summary = stub.Ingest(iter(batches))
    assert summary.batches == 5 and summary.packets == 2300
    assert summary.bytes == sum(map(len, frames)) + 300 * len(heavy[0])
    assert summary.bytes_wire == summary.bytes  # a PacketBatch carries whole frames
    assert summary.counts.allow + summary.counts.drop + summary.counts.malformed == 2300
    assert summary.ruleset_version == 7
    after = stub.GetStats(packet_pb2.GetStatsRequest())
    assert after.packets_total - before.packets_total == 2300
    assert after.flows_active > 0 and after.ruleset_version == 7
    assert {h.rule_id for h in after.rule_hits} == {"r1", "r2"}
    assert {e.reason for e in after.parse_errors} >= {"truncated_ipv4", "truncated_tcp"}
    top = stub.TopFlows(packet_pb2.TopFlowsRequest(n=3, order_by=packet_pb2.FLOW_ORDER_PACKETS))
    assert len(top.flows) == 3 and top.flows[0].src == "10.200.0.1"
    assert top.flows[0].dst_port == 8443 and top.flows[0].packets >= 300
    assert top.flows[0].protocol == 6 and not top.flows[0].HasField("vlan")
    by_bytes = stub.TopFlows(packet_pb2.TopFlowsRequest(n=5, order_by=packet_pb2.FLOW_ORDER_BYTES))
    assert [f.bytes for f in by_bytes.flows] == sorted(
        (f.bytes for f in by_bytes.flows), reverse=True
    )


def _offsets(*pairs):
    return b"".join(struct.pack("<II", *p) for p in pairs)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (packet_pb2.PacketBatch(data=b"x" * 20, offsets=_offsets((10, 20))), "offsets"),
        (packet_pb2.PacketBatch(data=b"x" * 20, offsets=b"\x00" * 12), "offsets"),
        (packet_pb2.PacketBatch(data=b"x" * 20, offsets=_offsets(*[(0, 1)] * 4097)), "offsets"),
        (
            packet_pb2.PacketBatch(data=b"x" * 20, offsets=_offsets((0, 20)), timestamps=b"1234"),
            "timestamps",
        ),
        (
            packet_pb2.PacketBatch(data=b"x" * 20, offsets=_offsets((0, 20)), link_type=7),
            "link_type",
        ),
    ],
)
def test_bad_batches_are_invalid_argument_and_server_keeps_serving(stub, message, field):
    for call in (
        stub.Classify,
        lambda m: list(stub.StreamClassify(iter([m]))),
        lambda m: stub.Ingest(iter([m])),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call(message)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith(field)
    assert len(stub.Classify(batch_message([tcp_frame()])).verdicts) == 1


def test_invalid_rules_name_the_field_and_keep_the_old_set(stub):
    stub.SetRules(RULES)
    bad = packet_pb2.RuleSet(
        version=8,
        default_action="allow",
        rules=[
            packet_pb2.Rule(id="a", name="ok", action="drop", enabled=True),
            packet_pb2.Rule(id="b", name="bad", action="drop", dst_ports=["70000"], enabled=True),
        ],
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.SetRules(bad)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("rules[1].dst_ports[0]")
    assert stub.GetRules(packet_pb2.GetRulesRequest()).version == 7


def test_top_flows_limits(stub):
    with pytest.raises(grpc.RpcError) as caught:
        stub.TopFlows(packet_pb2.TopFlowsRequest(n=10_001))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("n")
    assert len(stub.TopFlows(packet_pb2.TopFlowsRequest()).flows) <= 10


def test_health_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "rookery.packet.v1.PacketService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    reply = next(iter(reflection.ServerReflectionInfo(iter([request]))))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "rookery.packet.v1.PacketService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


def _get(app, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{app.metrics_port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_http_side_port(app, stub):
    stub.SetRules(RULES)
    stub.Classify(batch_message([tcp_frame(), b"\x01"]))
    status, body = _get(app, "/healthz")
    assert status == 200 and json.loads(body)["version"]
    status, body = _get(app, "/readyz")
    assert status == 200 and json.loads(body)["ruleset_version"] == 7
    status, text = _get(app, "/metrics")
    assert status == 200
    for needle in (
        'packets_total{verdict="allow"}',
        "bytes_total ",
        "bytes_wire_total ",
        'parse_errors_total{reason="truncated_ethernet"}',
        'rule_hits_total{rule="r1"}',
        "batch_size_bucket",
        "batch_seconds_bucket",
        "flows_active ",
        "flows_evicted_total ",
        "ruleset_version 7.0",
        "build_info{",
    ):
        assert needle in text, needle
    status, body = _get(app, "/nope")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    # a probe's HEAD gets GET's status and headers, no body; another method a JSON 405
    base = f"http://127.0.0.1:{app.metrics_port}"
    for path, expected in (("/healthz", 200), ("/metrics", 200), ("/nope", 404)):
        request = urllib.request.Request(base + path, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                status, headers, body = reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as exc:
            status, headers, body = exc.code, exc.headers, exc.read()
        assert (status, body) == (expected, b""), path
        assert int(headers["Content-Length"]) > 0
    request = urllib.request.Request(base + "/healthz", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET, HEAD"
    assert json.loads(refused.value.read())["error"]["code"] == "method_not_allowed"
    # what http.server refuses itself (a method it has no handler for, a malformed request
    # line) comes in the same JSON shape, not as its HTML page
    for request_line, status, code in (
        (b"BREW /healthz HTTP/1.1", 501, "not_implemented"),
        (b"\x00\x01garbage", 400, "bad_request"),
    ):
        with socket.create_connection(("127.0.0.1", app.metrics_port), timeout=5) as raw:
            raw.sendall(request_line + b"\r\n\r\n")
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == str(status).encode(), answer
        assert b"Content-Type: application/json" in head
        assert json.loads(body)["error"]["code"] == code


def test_interceptors_plug_in_at_build_server():
    seen = []

    class Recorder(grpc.ServerInterceptor):
        def intercept_service(self, continuation, details):
            seen.append(details.method)
            return continuation(details)

    from packet_service.engine import PacketEngine
    from packet_service.grpc_server import build_server

    config = ServiceConfig(bind_address="127.0.0.1", grpc_port=0)
    built = build_server(config, PacketEngine(), interceptors=[Recorder()])
    built.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{built.port}") as ch:
            packet_pb2_grpc.PacketServiceStub(ch).GetRules(packet_pb2.GetRulesRequest())
    finally:
        built.server.stop(0)
        built.servicer.close()
    assert seen == ["/rookery.packet.v1.PacketService/GetRules"]


def test_slow_ingest_stream_is_accounted_without_waiting_for_its_end(app, stub):
    """Frames of an open, slow Ingest stream reach the statistics within about a second."""
    import queue
    import threading

    outbox: queue.Queue = queue.Queue()
    before = stub.GetStats(packet_pb2.GetStatsRequest()).packets_total

    def requests():
        while (item := outbox.get()) is not None:
            yield item

    done: dict = {}
    caller = threading.Thread(target=lambda: done.setdefault("summary", stub.Ingest(requests())))
    caller.start()
    outbox.put(batch_message([tcp_frame()] * 7))
    deadline = time.monotonic() + 5
    seen = before
    while time.monotonic() < deadline and seen - before < 7:
        time.sleep(0.1)
        seen = stub.GetStats(packet_pb2.GetStatsRequest()).packets_total
    outbox.put(None)
    caller.join(timeout=10)
    assert seen - before == 7, "the open stream's frames were not accounted"
    assert done["summary"].packets == 7


def test_garbage_request_bytes_are_invalid_argument(channel, stub):
    raw_classify = channel.unary_unary(
        "/rookery.packet.v1.PacketService/Classify",
        request_serializer=None,
        response_deserializer=packet_pb2.Verdicts.FromString,
    )
    with pytest.raises(grpc.RpcError) as caught:
        raw_classify(b"\x0a\xff\xff\x01abc")  # data field claims more bytes than sent
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(stub.Classify(batch_message([tcp_frame()])).verdicts) == 1


def test_a_steady_stream_moves_the_statistics_on_every_poll(app, stub):
    """A replay sends a few frames every few milliseconds for as long as it runs: it is
    never idle, and its slot would take minutes to fill. GetStats, TopFlows, /metrics
    and GetSeries must rise while the stream is still open."""
    import threading

    stop = threading.Event()
    sent = {"frames": 0}
    frame = tcp_frame("10.77.0.1", 7777)

    def requests():
        while not stop.wait(0.02):
            sent["frames"] += 5
            yield batch_message([frame] * 5)

    done: dict = {}
    caller = threading.Thread(target=lambda: done.setdefault("summary", stub.Ingest(requests())))
    started = time.time()
    caller.start()
    try:
        polls = []
        metrics = []
        deadline = time.monotonic() + 10
        while len(polls) < 4 and time.monotonic() < deadline:
            time.sleep(0.7)  # the poller's interval, not a stand-in for a clock
            polls.append(stub.GetStats(packet_pb2.GetStatsRequest()).packets_total)
            metrics.append(_get(app, "/metrics")[1])
        top = stub.TopFlows(packet_pb2.TopFlowsRequest(n=10_000))
        recent = stub.GetSeries(packet_pb2.SeriesRequest(start=started - 1, metrics=["packets"]))
        assert caller.is_alive(), "the stream ended before the polls"
    finally:
        stop.set()
        caller.join(timeout=10)
    assert len(polls) == 4 and all(b > a for a, b in itertools.pairwise(polls)), polls
    counted = [
        float(line.split()[-1])
        for text in metrics
        for line in text.splitlines()
        if line.startswith('packets_total{verdict="allow"}')
    ]
    assert all(b > a for a, b in itertools.pairwise(counted)), counted
    ours = [f for f in top.flows if f.src == "10.77.0.1" and f.dst_port == 7777]
    assert ours and ours[0].packets > 0
    assert np.nansum(recent.series[0].values) > 0
    assert done["summary"].packets == sent["frames"]


def test_get_series_adds_up_to_get_stats(app, stub):
    stub.SetRules(RULES)
    stub.Classify(batch_message([tcp_frame()] * 3 + [tcp_frame("10.9.1.1")]))
    reply = stub.GetSeries(
        packet_pb2.SeriesRequest(
            start=app.engine.started_at - 600, end=time.time() + 1, step_seconds=60
        )
    )
    stats = stub.GetStats(packet_pb2.GetStatsRequest())
    assert reply.step_seconds == 60 and reply.start % 60 == 0
    assert reply.points == len(reply.series[0].values)
    assert 0 < reply.history_start <= time.time()
    by_metric = {s.metric: s for s in reply.series if s.metric != "rule_hits"}
    assert set(by_metric) == {
        "packets",
        "bytes",
        "bytes_wire",
        "allow",
        "drop",
        "malformed",
        "parse_errors",
    }
    assert np.nansum(by_metric["packets"].values) == stats.packets_total
    assert np.nansum(by_metric["bytes_wire"].values) == stats.bytes_wire_total
    assert np.nansum(by_metric["drop"].values) == stats.verdicts.drop
    assert np.isnan(by_metric["packets"].values[0])  # long before the service started
    hits = {s.rule_id: s for s in reply.series if s.metric == "rule_hits"}
    assert {h.rule_id: h.hits for h in stats.rule_hits} == {
        rule_id: np.nansum(s.values) for rule_id, s in hits.items()
    }
    assert hits["r2"].rule_name == "block lab" and hits["r2"].values
    assert reply.ruleset_version == 7
    assert reply.rule_hits_since == stats.rule_hits_since > 0


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"step_seconds": 86_401}, "step_seconds"),
        ({"start": 1, "end": 100_000}, "step_seconds"),
        ({"start": 200, "end": 100}, "end"),
        ({"metrics": ["packets", "nope"]}, "metrics"),
    ],
)
def test_get_series_rejects_bad_requests_naming_the_field(stub, request_fields, field):
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetSeries(packet_pb2.SeriesRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field}: ")


def test_top_flows_pages_through_every_flow_once(stub):
    frames = [tcp_frame(f"198.18.0.{i}", 1000 + i) for i in range(40) for _ in range(i % 7 + 1)]
    stub.Ingest(iter([batch_message(frames)]))
    for order in (packet_pb2.FLOW_ORDER_PACKETS, packet_pb2.FLOW_ORDER_BYTES):
        seen, token, pages = [], "", 0
        while True:
            page = stub.TopFlows(packet_pb2.TopFlowsRequest(n=7, order_by=order, page_token=token))
            pages += 1
            seen += [(f.src, f.dst, f.src_port, f.dst_port, f.packets) for f in page.flows]
            token = page.next_page_token
            if not token:
                break
            assert len(page.flows) == 7
        assert len(seen) == len(set(seen)) == page.flows_active
        assert pages == -(-page.flows_active // 7)
        ours = [s[4] for s in seen if s[0].startswith("198.18.0.")]
        assert len(ours) == 40
        values = [s[4] for s in seen] if order == packet_pb2.FLOW_ORDER_PACKETS else None
        if values:
            assert values == sorted(values, reverse=True)
    with pytest.raises(grpc.RpcError) as caught:
        stub.TopFlows(packet_pb2.TopFlowsRequest(page_token="not a token!"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("page_token")
    bytes_token = stub.TopFlows(
        packet_pb2.TopFlowsRequest(n=1, order_by=packet_pb2.FLOW_ORDER_BYTES)
    ).next_page_token
    with pytest.raises(grpc.RpcError) as caught:
        stub.TopFlows(packet_pb2.TopFlowsRequest(n=1, page_token=bytes_token))
    assert caught.value.details().startswith("page_token")


def test_ingest_summary_counts_the_flows_its_stream_evicted():
    from packet_service.engine import PacketEngine
    from packet_service.flow_table import FlowTable
    from packet_service.grpc_server import build_server

    engine = PacketEngine(flow_table=FlowTable(max_flows=64, initial_capacity=16))
    built = build_server(ServiceConfig(bind_address="127.0.0.1", grpc_port=0), engine)
    built.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{built.port}") as ch:
            stub = packet_pb2_grpc.PacketServiceStub(ch)
            frames = [tcp_frame(f"10.50.{i // 250}.{i % 250}", 1000 + i) for i in range(500)]
            summary = stub.Ingest(iter([batch_message(frames)]))
            stats = stub.GetStats(packet_pb2.GetStatsRequest())
    finally:
        built.server.stop(0)
        built.servicer.close()
    assert summary.flows_evicted == stats.flows_evicted_total >= 500 - 64


def test_get_series_without_a_history_is_failed_precondition():
    from packet_service.engine import PacketEngine
    from packet_service.grpc_server import build_server

    engine = PacketEngine(history_seconds=0)
    built = build_server(ServiceConfig(bind_address="127.0.0.1", grpc_port=0), engine)
    built.server.start()
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{built.port}") as ch,
            pytest.raises(grpc.RpcError) as caught,
        ):
            packet_pb2_grpc.PacketServiceStub(ch).GetSeries(packet_pb2.SeriesRequest())
    finally:
        built.server.stop(0)
        built.servicer.close()
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "HISTORY_SECONDS" in caught.value.details()
