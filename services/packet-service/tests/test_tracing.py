"""packet_service.tracing: off (nothing loaded, nothing patched) without an OTLP endpoint;
on, one span per RPC (a stream of many batches included) reaches a real OTLP/HTTP
receiver; log lines inside a span carry its ids.

Tracing sets process-wide state (the global tracer provider), so
every test that turns it on, or checks that it stayed off, runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SERVICE_DIR = Path(__file__).resolve().parents[1]
RECEIVER_DIR = SERVICE_DIR.parents[1] / "scripts" / "trio_tests"


def run_python(code: str, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=SERVICE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_off_loads_no_opentelemetry_and_patches_nothing() -> None:
    out = run_python(
        """
        import sys
        import grpc
        from packet_service.config import ServiceConfig
        from packet_service.service import PacketServiceApp
        from packet_service.tracing import setup_tracing
        assert setup_tracing("1.0") == []
        assert grpc.server.__module__ == "grpc"
        app = PacketServiceApp(
            ServiceConfig(bind_address="127.0.0.1", grpc_port=0, metrics_port=0)
        )
        app.start()
        app.stop()
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """,
        {"OTEL_SERVICE_NAME": "packet-service"},
    )
    assert out.strip() == "[]"


def test_on_one_span_per_rpc_even_for_a_stream_of_batches() -> None:
    out = run_python(
        f"""
        import json, sys
        sys.path.insert(0, {str(RECEIVER_DIR)!r})
        from otlp_receiver import OtlpReceiver
        receiver = OtlpReceiver().start()
        import os
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        from packet_service import synthetic as syn
        from packet_service.config import ServiceConfig
        from packet_service.gen import packet_pb2, packet_pb2_grpc
        from packet_service.service import PacketServiceApp
        from packet_service.tracing import setup_tracing

        from opentelemetry import trace
        interceptors = setup_tracing("9.9.9")
        config = ServiceConfig(bind_address="127.0.0.1", grpc_port=0, metrics_port=0)
        app = PacketServiceApp(config, interceptors=interceptors)
        app.start()
        frame = syn.ethernet(syn.ipv4("10.0.0.1", "10.0.0.2", 17, syn.udp(1, 53, b"x")), 0x0800)
        data, offsets = syn.to_batch([frame] * 16)
        batch = packet_pb2.PacketBatch(data=data.tobytes(), offsets=offsets.astype("<u4").tobytes())
        parent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
        with grpc.insecure_channel(f"127.0.0.1:{{app.grpc_port}}") as channel:
            stub = packet_pb2_grpc.PacketServiceStub(channel)
            stub.Classify(batch, timeout=5)
            try:  # offsets past the data: INVALID_ARGUMENT
                bad = packet_pb2.PacketBatch(data=b"x", offsets=batch.offsets)
                stub.Classify(bad, timeout=5)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            else:
                raise AssertionError("a malformed batch was accepted")
            replies = list(stub.StreamClassify(iter([batch] * 10), timeout=5,
                                               metadata=[("traceparent", parent)]))
            assert len(replies) == 10
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        app.stop()
        trace.get_tracer_provider().force_flush()
        spans = receiver.wait_for(lambda s: len(s) >= 3)
        print(json.dumps([
            dict(name=s.name, kind=s.kind, trace=s.trace_id, parent=s.parent_span_id,
                 service=s.service, version=s.resource.get("service.version"), status=s.status)
            for s in spans]))
        """,
        {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},  # every call, not a share
    )
    received = json.loads(out)
    classify = [s for s in received if s["name"].endswith("/Classify")]
    assert sorted(s["status"] for s in classify) == ["error", "unset"]  # the refused batch
    spans = {s["name"]: s for s in received}
    prefix = "/rookery.packet.v1.PacketService/"
    # exactly one span each: no span per batch, none for the health check
    assert sorted(spans) == [prefix + "Classify", prefix + "StreamClassify"]
    assert len(received) == 3
    stream = spans[prefix + "StreamClassify"]
    assert (stream["kind"], stream["trace"], stream["parent"]) == ("server", "ab" * 16, "cd" * 8)
    assert (stream["service"], stream["version"]) == ("packet-service", "9.9.9")
    assert all(s["parent"] == "" for s in classify)


def test_root_share_follows_the_standard_sampler_variables() -> None:
    from packet_service.tracing import ROOT_SHARE, root_share

    assert root_share({}) == ROOT_SHARE
    assert root_share({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}) == 1.0
    assert root_share({"OTEL_TRACES_SAMPLER": "ParentBased_Always_Off "}) == 0.0
    ratio = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
    assert root_share({**ratio, "OTEL_TRACES_SAMPLER_ARG": "0.01"}) == 0.01
    assert root_share(ratio) == 1.0  # the SDK's default argument
    for bad in ("lots", "1.5", "-0.1", "nan\x00"):
        assert root_share({**ratio, "OTEL_TRACES_SAMPLER_ARG": bad}) == 1.0
    # samplers the interceptor does not implement go to the SDK untouched
    assert root_share({"OTEL_TRACES_SAMPLER": "always_on"}) is None
    assert root_share({"OTEL_TRACES_SAMPLER": "traceidratio"}) is None


def test_untraced_calls_never_reach_the_sdk_and_traced_ones_keep_the_callers_trace() -> None:
    import grpc
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
    from packet_service.tracing import ServerSpans

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))  # not the global provider
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    draws = iter([0.05, 0.5, 0.99, 0.2])  # with a share of 0.25: the 1st and 4th are traced
    spans = ServerSpans(provider.get_tracer("test"), root_share=0.25, draw=lambda: next(draws))

    class Details:
        method = "/rookery.packet.v1.PacketService/Classify"
        invocation_metadata = ()

    class Context:
        def __init__(self, *metadata: tuple[str, str]) -> None:
            self.metadata = metadata

        def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
            return self.metadata

    def echo(request: str, context: Context) -> str:
        return request

    handler = spans.intercept_service(
        lambda _: grpc.unary_unary_rpc_method_handler(echo), Details()
    )
    call = handler.unary_unary
    trace_id, span_id = "ab" * 16, "cd" * 8
    for n in range(4):  # new traces: a quarter, decided by the draws
        assert call(f"root {n}", Context(("user-agent", "x"))) == f"root {n}"
    # a sampled caller's trace is always followed, an unsampled one never (no draw either)
    call("sampled", Context(("traceparent", f"00-{trace_id}-{span_id}-01")))
    call("unsampled", Context(("traceparent", f"00-{trace_id}-{span_id}-00")))
    # a malformed traceparent is no caller trace: the draw decides, and no more draws are left
    with pytest.raises(StopIteration):  # the draw was asked for, and none was left
        call("malformed", Context(("traceparent", "00-zz\x00")))
    finished = exporter.get_finished_spans()
    assert len(finished) == 3
    roots = [s for s in finished if s.parent is None]
    followed = [s for s in finished if s.parent is not None]
    assert len(roots) == 2
    assert [(format(s.context.trace_id, "032x"), format(s.parent.span_id, "016x"))
            for s in followed] == [(trace_id, span_id)]
    # a span is ended and the caller's context restored even when the handler raises
    def fail(request: str, context: Context) -> str:
        raise ValueError("bad batch")

    failing = spans.intercept_service(
        lambda _: grpc.unary_unary_rpc_method_handler(fail), Details()
    ).unary_unary
    with pytest.raises(ValueError):
        failing("x", Context(("traceparent", f"00-{trace_id}-{span_id}-01")))
    from opentelemetry import trace

    assert not trace.get_current_span().get_span_context().is_valid
    last = exporter.get_finished_spans()[-1]
    assert last.status.status_code.name == "ERROR" and last.end_time is not None
