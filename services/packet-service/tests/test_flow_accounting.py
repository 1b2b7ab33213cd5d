"""Flow accounting on real captures: the `ingest` command's flows against a dpkt-computed
ground truth over captures longer than the idle timeout, a corrupted far-future record,
out-of-order timestamps and the traffic clock of the flow table."""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
import sys
from pathlib import Path

import dpkt
import numpy as np
import pytest
from packet_service import synthetic as syn
from packet_service.flow_table import FlowTable, pack_keys

SERVICE_DIR = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
TEN_YEARS = 10 * 365 * 86400.0


def flow_frame(flow: int, rng: random.Random) -> bytes:
    payload = bytes(rng.randrange(0, 200))
    kind = flow % 4
    src, dst = f"10.1.{flow // 200}.{flow % 200 + 1}", f"192.0.2.{flow % 250 + 1}"
    if kind == 0:
        segment = syn.tcp(40000 + flow, 443, 0x18, payload)
        return syn.ethernet(syn.ipv4(src, dst, 6, segment), 0x0800)
    if kind == 1:
        return syn.ethernet(syn.ipv4(src, dst, 17, syn.udp(5000 + flow, 53, payload)), 0x0800)
    if kind == 2:
        return syn.ethernet(syn.ipv4(src, dst, 1, syn.icmp(8, 0, payload)), 0x0800)
    v6_src = ipaddress.IPv6Address(f"2001:db8::{flow + 1:x}").packed
    v6_dst = ipaddress.IPv6Address("2001:db8:ffff::1").packed
    segment = syn.tcp(1024 + flow, 22, 0x10, payload)
    return syn.ethernet(syn.ipv6(v6_src, v6_dst, 6, segment), 0x86DD)


def interleaved_records(
    flows: int, span: float, gap: float, seed: int
) -> list[tuple[float, bytes]]:
    """Every flow sends a few hundred packets; every third one falls silent for `gap`
    seconds in the middle. All flows interleave; records are in time order."""
    rng = random.Random(seed)
    records = []
    for flow in range(flows):
        count = rng.randrange(100, 900)
        begin = rng.uniform(0, span - gap - 60)
        if flow % 3 == 0:
            times = [begin + rng.uniform(0, 30) for _ in range(count // 2)]
            times += [begin + 30 + gap + rng.uniform(0, 30) for _ in range(count - count // 2)]
        else:
            times = [begin + rng.uniform(0, span - begin) for _ in range(count)]
        records += [(T0 + t, flow_frame(flow, rng)) for t in times]
    records.sort(key=lambda record: record[0])
    return records


def dpkt_flows(path: Path) -> dict[tuple, dict]:
    """The ground truth: per 5-tuple the packets, bytes and first/last time, from dpkt."""
    flows: dict[tuple, dict] = {}
    with open(path, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(buf).data
            proto = ip.p if isinstance(ip, dpkt.ip.IP) else ip.nxt
            l4 = ip.data
            ports = (l4.sport, l4.dport) if proto in (6, 17) else (0, 0)
            key = (
                str(ipaddress.ip_address(ip.src)),
                str(ipaddress.ip_address(ip.dst)),
                *ports,
                {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}[proto],
            )
            flow = flows.setdefault(key, {"packets": 0, "bytes": 0, "first": ts, "last": ts})
            flow["packets"] += 1
            flow["bytes"] += len(buf)
            flow["first"] = min(flow["first"], ts)
            flow["last"] = max(flow["last"], ts)
    return flows


def _endpoint(text: str) -> tuple[str, int]:
    if text.startswith("["):
        address, port = text[1:].split("]:")
        return address, int(port)
    if text.count(":") == 1:
        address, port = text.split(":")
        return address, int(port)
    return text, 0


def ingest(path: Path, *flags: str) -> dict:
    command = [sys.executable, "-m", "packet_service", "ingest", str(path), "--json"]
    done = subprocess.run(
        [*command, "--top", "100000", *flags],
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ingest_flows(summary: dict) -> dict[tuple, dict]:
    flows = {}
    for f in summary["top_flows"]:
        (src, sport), (dst, dport) = _endpoint(f["src"]), _endpoint(f["dst"])
        key = (src, dst, sport, dport, f["protocol"])
        assert key not in flows, f"flow {key} reported twice"
        flows[key] = {
            "packets": f["packets"],
            "bytes": f["bytes"],
            "first": f["first_seen"],
            "last": f["last_seen"],
        }
    return flows


def assert_same_flows(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, truth in expected.items():
        mine = got[key]
        assert (mine["packets"], mine["bytes"]) == (truth["packets"], truth["bytes"]), key
        assert mine["first"] == pytest.approx(truth["first"], abs=2e-6), key
        assert mine["last"] == pytest.approx(truth["last"], abs=2e-6), key


def test_ingest_flows_match_dpkt_over_a_capture_longer_than_the_idle_timeout(tmp_path):
    # 900 s, flows silent for 400 s mid-way, > 16,384 packets (several table updates)
    records = interleaved_records(flows=90, span=900, gap=400, seed=3)
    assert len(records) > 3 * 16384 // 2
    path = tmp_path / "long.pcap"
    syn.write_capture(path, records)
    summary = ingest(path)
    truth = dpkt_flows(path)
    assert summary["packets"] == len(records) and summary["verdicts"]["malformed"] == 0
    assert summary["flows"] == len(truth) == 90 and summary["flows_evicted"] == 0
    assert_same_flows(ingest_flows(summary), truth)
    # With a timeout shorter than the silences, those flows are cut and the cuts counted.
    cut = ingest(path, "--idle-timeout", "300")
    assert cut["flows_evicted"] > 0 and cut["packets"] == len(records)
    assert sum(f["packets"] for f in cut["top_flows"]) < len(records)


def test_a_corrupted_far_future_record_does_not_cut_any_flow(tmp_path):
    # Every flow sends at least every few seconds for 100 s; the idle timeout is 30 s.
    rng = random.Random(8)
    records = [
        (T0 + second + rng.random(), flow_frame(flow, rng))
        for second in range(100)
        for flow in range(40)
        for _ in range(5)
    ]
    records.sort(key=lambda record: record[0])
    middle = len(records) // 2
    records.insert(middle, (T0 + 50 + TEN_YEARS, records[middle][1]))
    path = tmp_path / "corrupt.pcap"
    syn.write_capture(path, records)
    summary = ingest(path, "--idle-timeout", "30", "--batch", "1024")
    assert summary["flows_evicted"] == 0
    assert_same_flows(ingest_flows(summary), dpkt_flows(path))


def keys(count: int, offset: int = 0) -> np.ndarray:
    ids = np.arange(offset, offset + count, dtype=np.uint64)
    return pack_keys(
        np.full(count, 4),
        np.full(count, -1),
        np.zeros(count, np.uint64),
        ids | np.uint64(0xFFFF00000000),
        np.zeros(count, np.uint64),
        np.full(count, 0xFFFF0A000001, np.uint64),
        np.full(count, 1000),
        np.full(count, 80),
        np.full(count, 6),
    )


def feed(table: FlowTable, flow_keys: np.ndarray, times) -> None:
    n = flow_keys.shape[0]
    times = np.broadcast_to(np.asarray(times, dtype=np.float64), (n,)).copy()
    table.update(flow_keys, np.full(n, 60), times, np.zeros(n, np.uint8))


def test_a_lone_far_future_batch_does_not_move_the_traffic_clock():
    table = FlowTable(max_flows=10_000, idle_timeout=30.0)
    feed(table, keys(100), T0)
    feed(table, keys(1, offset=500), T0 + TEN_YEARS)  # a batch of one corrupted record
    assert table.clock == T0 and table.count == 101 and table.evicted_total == 0
    feed(table, keys(100), T0 + 20)
    assert table.clock == T0 + 20 and table.count == 101
    # A real jump (two batches that agree) does move it, and idle flows then go.
    feed(table, keys(5, offset=1000), T0 + 5000)
    assert table.count == 106 and table.evicted_total == 0
    feed(table, keys(5, offset=1000), T0 + 5001)
    assert table.clock == T0 + 5000
    assert table.count == 6 and table.evicted_total == 100  # the far-future flow stays


def test_a_batch_is_accounted_before_idle_flows_are_swept():
    table = FlowTable(max_flows=10_000, idle_timeout=30.0)
    feed(table, keys(50), T0)
    # One batch spanning 40 s whose every flow has a packet at its start: none was idle.
    batch = np.concatenate([keys(50), keys(50)])
    feed(table, batch, np.r_[np.full(50, T0 + 10), np.full(50, T0 + 40)])
    assert table.count == 50 and table.evicted_total == 0
    assert all(f.packets == 3 for f in table.top(50))


def test_first_seen_moves_back_for_an_out_of_order_packet():
    table = FlowTable(max_flows=1000, idle_timeout=300.0)
    feed(table, keys(3), [T0 + 10, T0 + 11, T0 + 12])
    feed(table, keys(3), [T0 + 5, T0 + 20, T0 + 12])
    flows = sorted(table.top(3), key=lambda f: f.src)
    assert [(f.first_seen - T0, f.last_seen - T0) for f in flows] == [(5, 10), (11, 20), (12, 12)]
    # a repeat inside one batch, older than the flow's first packet, too
    feed(table, np.concatenate([keys(1), keys(1)]), [T0 + 30, T0 + 1])
    assert min(f.first_seen for f in table.top(3)) == T0 + 1


def test_first_seen_moves_back_on_the_grouped_path_too():
    table = FlowTable(max_flows=64, idle_timeout=1e9, initial_capacity=16)
    feed(table, keys(1), T0 + 50)
    burst = keys(40, offset=0)  # more new flows than half the table: the grouped path
    feed(table, burst, T0 + 10)
    first = {f.src: f.first_seen for f in table.top(64)}
    assert first["0.0.0.0"] == T0 + 10
