"""Statistics that are true while traffic flows, against the real processes: rates from
packet-service's per-second history (the same for every caller), /stats/series summed over
two packet-services with the unreachable one marked stale, the same series from a real
Prometheus, TopFlows paging, and a revoked service credential answered as 503 and named in
/rules/status."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import requests
from packet_service.gen import packet_pb2, packet_pb2_grpc
from prometheus import Prometheus, find_prometheus
from rookery_common.testing import wait_until
from trio import Proc, Trio, batch_of, free_port, udp_frame

DNS = udp_frame("10.1.0.1", "10.1.0.53", 40000, 53)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send(address: str, token: str, frames: list[bytes]) -> None:
    data, offsets = batch_of(frames)
    with grpc.insecure_channel(address) as channel:
        packet_pb2_grpc.PacketServiceStub(channel).Classify(
            packet_pb2.PacketBatch(data=data, offsets=offsets),
            timeout=10,
            metadata=[("authorization", f"Bearer {token}")],
        )


@dataclass(slots=True)
class Replay:
    """Sends `per_batch` frames every `interval` seconds to one packet-service until
    stopped, noting the wall-clock time and size of every batch it delivered: the truth
    the backend's rates are held against."""

    address: str
    token: str
    per_batch: int = 100
    interval: float = 0.1
    sent: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Replay:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        frames = [udp_frame("10.2.0.1", "10.2.0.2", 1000 + i, 53) for i in range(self.per_batch)]
        data, offsets = batch_of(frames)
        batch = packet_pb2.PacketBatch(data=data, offsets=offsets)
        metadata = [("authorization", f"Bearer {self.token}")]
        with grpc.insecure_channel(self.address) as channel:
            stub = packet_pb2_grpc.PacketServiceStub(channel)
            due = time.monotonic()
            while not self._stop.is_set():
                stub.Classify(batch, timeout=10, metadata=metadata)
                self.sent.append((time.time(), self.per_batch))
                due += self.interval
                self._stop.wait(max(0.0, due - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def rate(self, start: float, end: float) -> float:
        return sum(n for moment, n in list(self.sent) if start <= moment < end) / (end - start)


def start_trio(trio: Trio, **backend_env: str) -> str:
    assert trio.backend is not None and trio.packet is not None
    trio.backend.env.update(backend_env)
    trio.backend.start()
    trio.packet.start()
    token = trio.login()
    assert wait_until(lambda: rules_state(trio, token) == "in_sync", 15), "rules never in sync"
    return token


def rules_state(trio: Trio, token: str) -> str:
    reply = requests.get(f"{trio.api}/rules/status", headers=bearer(token), timeout=5)
    return reply.json()["data"]["state"]


def packet_address(trio: Trio) -> str:
    return f"127.0.0.1:{trio.packet_grpc_port}"


# ---------------------------------------------------------------- rates
def test_two_pollers_both_see_the_true_rate_during_a_replay(trio: Trio) -> None:
    window = 5
    token = start_trio(trio, STATS_RATE_WINDOW=str(window))
    replay = Replay(packet_address(trio), token).start()
    seen: dict[str, list[tuple[float, float, float]]] = {"first": [], "second": []}

    def poll(name: str) -> None:
        session = requests.Session()
        session.headers.update(bearer(trio.login()))
        for _ in range(12):
            before = time.time()
            reply = session.get(f"{trio.api}/stats/summary", timeout=10)
            assert reply.status_code == 200, reply.text
            seen[name].append((before, time.time(), reply.json()["data"]["packets_per_second"]))
            time.sleep(0.25)  # the pace of a dashboard, not a stand-in for a clock

    try:
        # The rate window must hold only replay seconds: wait until it does.
        assert wait_until(
            lambda: replay.sent and time.time() - replay.sent[0][0] > window + 1.5, 20
        )
        pollers = [threading.Thread(target=poll, args=(name,)) for name in seen]
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join(timeout=60)
    finally:
        replay.stop()
    for name, polls in seen.items():
        assert len(polls) == 12, name
        for before, after, rate in polls:
            # The backend averaged the `window` complete seconds before its clock's second.
            truths = {
                replay.rate(math.floor(moment) - window, math.floor(moment))
                for moment in (before, after)
            }
            assert rate > 0, f"{name} saw a zero rate"
            assert any(abs(rate - truth) <= 0.10 * truth for truth in truths), (
                f"{name}: {rate} packets/s, the replay sent {sorted(truths)}"
            )


# ---------------------------------------------------------------- two targets, one stale
def second_packet_service(trio: Trio, workdir: Path) -> tuple[Proc, str]:
    assert trio.packet is not None
    grpc_port, http_port = free_port(), free_port()
    proc = Proc(
        "packet-service-2",
        trio.packet.command,
        trio.packet.cwd,
        {**trio.packet.env, "GRPC_PORT": str(grpc_port), "METRICS_PORT": str(http_port)},
        f"http://127.0.0.1:{http_port}/healthz",
        workdir / "packet-2.log",
    )
    return proc, f"127.0.0.1:{grpc_port}"


@pytest.fixture
def two_targets(trio: Trio, tmp_path: Path) -> Iterator[tuple[Trio, Proc, str]]:
    other, address = second_packet_service(trio, tmp_path)
    assert trio.backend is not None
    trio.backend.env["PACKET_SERVICE_TARGETS"] = f"{packet_address(trio)},{address}"
    trio.backend.env["STATS_MAX_STALE"] = "300"
    other.start()
    try:
        yield trio, other, address
    finally:
        other.stop()


def series(trio: Trio, token: str, **query: str) -> requests.Response:
    return requests.get(f"{trio.api}/stats/series", params=query, headers=bearer(token), timeout=10)


def total(body: dict, metric: str) -> float:
    lines = [line for line in body["data"]["series"] if line["metric"] == metric]
    return sum(v for line in lines for v in line["values"] if v is not None)


def test_series_sums_both_targets_and_marks_the_unreachable_one_stale(two_targets) -> None:
    trio, other, other_address = two_targets
    # A target's last good answer is kept by each worker process (packet_link/stats_view):
    # one worker, so the request after the stop meets the answers made before it.
    token = start_trio(trio, WEB_CONCURRENCY="1")
    rule = requests.post(
        f"{trio.api}/rules",
        json={"name": "count dns", "action": "count", "protocol": "udp", "dst_ports": ["53"]},
        headers=bearer(token),
        timeout=10,
    )
    assert rule.status_code == 201, rule.text
    assert wait_until(lambda: rules_state(trio, token) == "in_sync", 15)
    send(packet_address(trio), token, [DNS] * 30)
    send(other_address, token, [DNS] * 12)
    query = {"metric": "packets,allow,rule_hits", "range": "60", "step": "1"}
    # The second in which the frames arrived closes when the next one begins.
    body = wait_until(
        lambda: (r := series(trio, token, **query).json()) and total(r, "packets") == 42 and r,
        5,
    )
    assert body, series(trio, token, **query).text
    data, meta = body["data"], body["meta"]
    assert data["source"] == "packet-service" and data["step_seconds"] == 1
    assert data["points"] == 60 and all(len(s["values"]) == 60 for s in data["series"])
    assert total(body, "allow") == 42
    hits = [s for s in data["series"] if s["metric"] == "rule_hits"]
    assert [(h["rule_name"], sum(v or 0 for v in h["values"])) for h in hits] == [("count dns", 42)]
    assert meta["stale"] is False
    assert [t["stale"] for t in meta["targets"]] == [False, False]

    other.stop()
    reply = series(trio, token, **query)
    assert reply.status_code == 200, reply.text
    meta = reply.json()["meta"]
    states = {t["target"]: t for t in meta["targets"]}
    assert meta["stale"] is True
    assert states[other_address]["stale"] is True and states[other_address]["error"]
    assert states[packet_address(trio)]["stale"] is False
    # The unreachable target's last good answer still covers the seconds it answered for.
    assert total(reply.json(), "packets") == 42
    summary = requests.get(f"{trio.api}/stats/summary", headers=bearer(token), timeout=10)
    assert summary.json()["data"]["targets_answered"] == 1
    assert other_address in summary.json()["meta"]["reasons"]


# ---------------------------------------------------------------- TopFlows paging
def test_top_flows_pages_follow_the_page_token(trio: Trio) -> None:
    token = start_trio(trio)
    flows = [udp_frame("10.3.0.1", "10.3.0.2", 1024 + i, 53) for i in range(2500)]
    heavy = [udp_frame("10.3.0.9", "10.3.0.2", 999, 53)] * 7
    send(packet_address(trio), token, flows + heavy)

    def page(token_value: str | None) -> dict:
        params = {"n": "1000", "order_by": "packets"}
        if token_value:
            params["page_token"] = token_value
        reply = requests.get(
            f"{trio.api}/stats/flows/top", params=params, headers=bearer(token), timeout=10
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    assert wait_until(lambda: page(None)["meta"]["flows_active"] == 2501, 10)
    seen: list[dict] = []
    next_token: str | None = None
    for _ in range(5):
        body = page(next_token)
        seen.extend(body["data"])
        next_token = body["meta"]["next_page_token"]
        if not next_token:
            break
    assert [len(seen)] == [2501]
    assert seen[0]["src"] == "10.3.0.9" and seen[0]["packets"] == 7
    keys = {(f["src"], f["src_port"], f["dst"], f["dst_port"]) for f in seen}
    assert len(keys) == 2501, "a flow showed up on two pages"
    packets = [f["packets"] for f in seen]
    assert packets == sorted(packets, reverse=True)
    summary = requests.get(f"{trio.api}/stats/summary", headers=bearer(token), timeout=10)
    data = summary.json()["data"]
    assert data["bytes_wire_total"] >= data["bytes_total"] > 0


# ---------------------------------------------------------------- revoked credential
def test_revoked_service_key_is_503_and_named_in_rules_status(trio: Trio) -> None:
    assert trio.packet is not None
    trio.packet.env["AUTH_CACHE_TTL"] = "0.1"
    token = start_trio(trio, STATS_MAX_STALE="0", PRINCIPAL_CACHE_TTL="0")
    keys = requests.get(
        f"{trio.api}/apikeys", params={"all": "true"}, headers=bearer(token), timeout=10
    ).json()["data"]
    service = [k for k in keys if k["name"].startswith("flask-backend on ") and not k["revoked"]]
    assert len(service) == 1, keys
    revoked = requests.delete(
        f"{trio.api}/apikeys/{service[0]['id']}",
        params={"force": "true"},  # a built-in service account's key: on purpose
        headers=bearer(token),
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text

    def refused() -> requests.Response | None:
        reply = requests.get(f"{trio.api}/stats/summary", headers=bearer(token), timeout=10)
        return reply if reply.status_code != 200 else None

    reply = wait_until(refused, 10)
    assert reply is not None and reply.status_code == 503, reply and reply.text
    error = reply.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert "UNAUTHENTICATED" in error["message"]
    assert "refused the credential of flask-backend's service account" in error["message"]
    for path in ("/stats/rules", "/stats/flows/top", "/stats/series?metric=packets"):
        other = requests.get(f"{trio.api}{path}", headers=bearer(token), timeout=10)
        assert other.status_code == 503, (path, other.text)

    requests.post(
        f"{trio.api}/rules", json={"name": "after revoke", "action": "drop"},
        headers=bearer(token), timeout=10,
    )  # fmt: skip

    def named() -> dict | None:
        status = requests.get(f"{trio.api}/rules/status", headers=bearer(token), timeout=5)
        target = status.json()["data"]["targets"][0]
        return target if "refused the credential" in (target["last_error"] or "") else None

    target = wait_until(named, 10)
    assert target, "rules/status does not say the credential was refused"
    assert "packet-publisher@rookery.internal" in target["last_error"]


# ---------------------------------------------------------------- Prometheus
@pytest.fixture
def prometheus_binary() -> str:
    found = find_prometheus()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is missing: install Debian's prometheus package")
        pytest.skip("prometheus NOT installed (Debian package 'prometheus'; CI installs it)")
    return found


def test_prometheus_and_packet_service_series_agree(
    trio: Trio, tmp_path: Path, prometheus_binary: str
) -> None:
    prometheus = Prometheus(
        prometheus_binary, tmp_path, [f"127.0.0.1:{trio.packet_http_port}"], scrape_interval=1
    )
    prometheus.start()
    try:
        token = start_trio(trio, PROMETHEUS_URL=prometheus.url, PROMETHEUS_SCRAPE_INTERVAL="1")
        assert wait_until(lambda: prometheus.targets_up() == 1, 20), prometheus.log()[-2000:]
        step = 2
        replay = Replay(packet_address(trio), token, per_batch=50, interval=0.1).start()
        try:
            assert wait_until(lambda: replay.sent and time.time() - replay.sent[0][0] > 16, 40)
        finally:
            replay.stop()
        # Let the last steps be scraped (a scrape every second) before comparing.
        wait_until(lambda: time.time() - replay.sent[-1][0] > 3 * step, 20)
        reply = series(trio, token, metric="packets,allow", range="40", step=str(step))
        assert reply.status_code == 200, reply.text
        body = reply.json()
        data = body["data"]
        assert data["source"] == "prometheus"
        assert [t["stale"] for t in body["meta"]["targets"]] == [False]
        with grpc.insecure_channel(packet_address(trio)) as channel:
            native = packet_pb2_grpc.PacketServiceStub(channel).GetSeries(
                packet_pb2.SeriesRequest(
                    start=data["start"],
                    end=data["start"] + data["points"] * step,
                    step_seconds=step,
                    metrics=["packets", "allow"],
                ),
                timeout=10,
                metadata=[("authorization", f"Bearer {token}")],
            )
        assert native.start == data["start"] and native.points == data["points"]
        sent = sum(n for _, n in replay.sent)
        per_step = 500 * step  # what one step of the replay holds
        for metric in ("packets", "allow"):
            from_prometheus = next(s for s in data["series"] if s["metric"] == metric)["values"]
            from_history = next(s for s in native.series if s.metric == metric).values
            assert sum(v for v in from_history if not math.isnan(v)) == sent
            # Both sources hold the whole replay, within one step's worth of traffic.
            assert abs(sum(v or 0 for v in from_prometheus) - sent) <= per_step, metric
            # Step by step they agree within one step (a scrape lands late or early).
            for index, value in enumerate(from_prometheus):
                near = [
                    from_history[j]
                    for j in range(index - 1, index + 2)
                    if 0 <= j < len(from_history) and not math.isnan(from_history[j])
                ]
                if value is not None and near:
                    assert min(near) - per_step * 0.25 <= value <= max(near) + per_step * 0.25, (
                        metric, index, value, near,
                    )  # fmt: skip
    finally:
        prometheus.stop()
