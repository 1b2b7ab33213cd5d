"""The trio's benchmark (not a test). Real processes on loopback, one run:

1. rule publish latency: REST PATCH of a rule → packet-service enforcing the new verdict,
   p50/p99 over BENCH_CHANGES (200) changes;
2. ValidateToken calls/s: straight to flask-backend's AuthService vs through
   packet-service's credential cache (what its interceptor does on every call);
3. Classify throughput over gRPC (batch 1024) with caller authentication on vs off.

Run: `make bench-trio` (or `.venv/bin/python services/flask-backend/bench/trio_bench.py`).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "scripts" / "trio_tests"), str(ROOT / "services" / "packet-service")]

import grpc  # noqa: E402
import requests  # noqa: E402
from packet_service.auth_guard import AuthServiceClient, CredentialCache  # noqa: E402
from packet_service.gen import auth_pb2, auth_pb2_grpc, packet_pb2, packet_pb2_grpc  # noqa: E402
from packet_service.synthetic import mixed_frames, to_batch  # noqa: E402
from trio import PACKET_DIR, PY, Proc, Trio, batch_of, free_port, udp_frame  # noqa: E402

CHANGES = int(os.environ.get("BENCH_CHANGES", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
DNS = udp_frame("10.0.0.1", "10.0.0.53", 40000, 53)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def publish_latency(trio: Trio, token: str) -> list[float]:
    auth = {"Authorization": f"Bearer {token}"}
    rule = requests.post(
        f"{trio.api}/rules",
        json={"name": "bench", "action": "drop", "protocol": "udp", "dst_ports": ["53"]},
        headers=auth,
        timeout=10,
    ).json()["data"]
    data, offsets = batch_of([DNS])
    batch = packet_pb2.PacketBatch(data=data, offsets=offsets)
    metadata = [("authorization", f"Bearer {token}")]
    stub = packet_pb2_grpc.PacketServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{trio.packet_grpc_port}")
    )
    latencies = []
    for change in range(CHANGES):
        action = "allow" if change % 2 == 0 else "drop"
        want = packet_pb2.VERDICT_ALLOW if action == "allow" else packet_pb2.VERDICT_DROP
        started = time.perf_counter()
        reply = requests.patch(
            f"{trio.api}/rules/{rule['id']}", json={"action": action}, headers=auth, timeout=10
        )
        reply.raise_for_status()
        while stub.Classify(batch, timeout=5, metadata=metadata).verdicts[0] != want:
            time.sleep(0.0005)
        latencies.append(time.perf_counter() - started)
    return latencies


def calls_per_second(call, seconds: float, threads: int = 4) -> float:  # type: ignore[no-untyped-def]
    count = [0] * threads
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        while time.monotonic() < stop:
            call()
            count[index] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(count) / (time.perf_counter() - started)


def classify_rate(port: int, token: str | None, batch: packet_pb2.PacketBatch, n: int) -> float:
    stub = packet_pb2_grpc.PacketServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    metadata = [("authorization", f"Bearer {token}")] if token else []
    stub.Classify(batch, timeout=10, metadata=metadata)  # warm up (and fill the auth cache)
    return n * calls_per_second(
        lambda: stub.Classify(batch, timeout=10, metadata=metadata), SECONDS, 2
    )


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rookery-trio-bench-"))
    # No AuthService throttle here: section 2 measures what one AuthService call costs.
    trio = Trio(workdir).build(backend_env={"AUTH_RPC_RATE_LIMIT": "1000000/second"})
    open_port, open_http = free_port(), free_port()
    unauthenticated = Proc(
        "packet-service (AUTH_REQUIRED=false)",
        [PY, "-m", "packet_service", "serve"],
        PACKET_DIR,
        {"GRPC_PORT": str(open_port), "METRICS_PORT": str(open_http), "AUTH_REQUIRED": "false"},
        f"http://127.0.0.1:{open_http}/healthz",
        workdir / "packet-open.log",
    )
    procs = [trio.backend, trio.packet, unauthenticated]
    try:
        for proc in procs:
            proc.start()
        token = trio.login()
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"rookery trio benchmark — {now}, load {os.getloadavg()[0]:.2f}")

        latencies = publish_latency(trio, token)
        print(f"\n1. rule publish latency (REST PATCH → enforced), {len(latencies)} changes")
        ms = [value * 1000 for value in latencies]
        print(
            f"   p50 {percentile(ms, 0.5):.1f} ms   p99 {percentile(ms, 0.99):.1f} ms"
            f"   mean {statistics.mean(ms):.1f} ms   max {max(ms):.1f} ms"
        )

        auth_stub = auth_pb2_grpc.AuthServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{trio.auth_grpc_port}")
        )
        request = auth_pb2.ValidateTokenRequest(token=token)
        own = [("authorization", f"Bearer {trio.service_key}")]  # as packet-service asks
        direct = calls_per_second(
            lambda: auth_stub.ValidateToken(request, timeout=5, metadata=own), SECONDS
        )
        client = AuthServiceClient(f"127.0.0.1:{trio.auth_grpc_port}", trio.service_key)
        cache = CredentialCache(client.validate, ttl=2.0)
        cached = calls_per_second(lambda: cache.check(token), SECONDS)
        print("\n2. ValidateToken, 4 client threads")
        print(f"   without cache (AuthService RPC): {direct:12,.0f} calls/s")
        ratio = cached / direct
        print(f"   with cache (packet-service):     {cached:12,.0f} calls/s   ratio {ratio:,.0f}x")

        frames = mixed_frames(1024, seed=3)
        blob, offsets = to_batch(frames)
        batch = packet_pb2.PacketBatch(data=blob.tobytes(), offsets=offsets.tobytes())
        on = classify_rate(trio.packet_grpc_port, token, batch, len(frames))
        off = classify_rate(open_port, None, batch, len(frames))
        print("\n3. Classify over gRPC, batch 1024, 2 client threads")
        print(f"   authentication on:  {on:12,.0f} packets/s")
        print(f"   authentication off: {off:12,.0f} packets/s   on/off = {on / off:.2f}")
        return 0
    finally:
        for proc in reversed(procs):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
