"""Flow table: aggregation, bounds, idle eviction, top-N and memory per flow."""

from __future__ import annotations

import tracemalloc

import dpkt
import numpy as np
from packet_service import synthetic as syn
from packet_service.engine import PacketEngine
from packet_service.flow_table import FlowTable, pack_keys

MAX_BYTES_PER_FLOW = 200


def keys_for(count: int, offset: int = 0) -> np.ndarray:
    ids = np.arange(offset, offset + count, dtype=np.int64)
    n = ids.shape[0]
    return pack_keys(
        np.full(n, 4, np.uint8),
        np.full(n, -1, np.int32),
        np.zeros(n, np.uint64),
        (ids.astype(np.uint64) | np.uint64(0xFFFF00000000)),
        np.zeros(n, np.uint64),
        np.full(n, 0xFFFF0A000001, np.uint64),
        (ids % 60000).astype(np.int32),
        np.full(n, 443, np.int32),
        np.full(n, 6, np.int16),
    )


def feed(table: FlowTable, keys: np.ndarray, t: float, length: int = 100, flags: int = 0x10):
    n = keys.shape[0]
    table.update(keys, np.full(n, length), np.full(n, t), np.full(n, flags, np.uint8))


def test_aggregates_packets_bytes_times_and_flags():
    table = FlowTable(max_flows=1000, initial_capacity=16)
    keys = keys_for(3)
    batch = np.concatenate([keys, keys[:1], keys[:1]])
    table.update(
        batch,
        np.array([10, 20, 30, 40, 50]),
        np.array([5.0, 6, 7, 4, 9]),
        np.array([2, 16, 16, 1, 0], np.uint8),
    )
    feed(table, keys[:1], 11.0, length=5, flags=0x08)
    assert table.count == 3
    top = table.top(3, "packets")
    assert [f.packets for f in top] == [4, 1, 1]
    first = top[0]
    assert first.bytes == 10 + 40 + 50 + 5
    assert first.first_seen == 4.0 and first.last_seen == 11.0
    assert first.tcp_flags == 2 | 1 | 8
    assert first.src == "0.0.0.0" and first.dst == "10.0.0.1" and first.dst_port == 443
    assert first.vlan is None and first.protocol == 6
    assert [f.bytes for f in table.top(2, "bytes")] == [105, 30]


def test_top_orders_by_bytes():
    table = FlowTable(max_flows=100, initial_capacity=16)
    keys = keys_for(3)
    table.update(keys, np.array([500, 100, 300]), np.ones(3), np.zeros(3, np.uint8))
    feed(table, keys[1:2], 2.0, length=10)
    feed(table, keys[1:2], 2.0, length=10)
    assert [f.bytes for f in table.top(3, "bytes")] == [500, 300, 120]
    assert [f.packets for f in table.top(1, "packets")] == [3]


def test_grows_then_stays_bounded_and_counts_evictions():
    table = FlowTable(max_flows=5000, idle_timeout=1e9, initial_capacity=64)
    for round_ in range(10):
        feed(table, keys_for(1000, offset=round_ * 1000), float(round_))
    assert table.count <= 5000
    assert table.evicted_total == 10_000 - table.count
    # The newest flows survived (least recently seen are evicted first).
    newest = table.top(5000, "packets")
    assert min(f.last_seen for f in newest) >= 4.0


def test_idle_flows_are_evicted():
    table = FlowTable(max_flows=10_000, idle_timeout=10.0)
    feed(table, keys_for(100), 0.0)
    feed(table, keys_for(100, offset=100), 5.0)
    feed(table, keys_for(1, offset=500), 12.0)  # clock 12: flows last seen at 0 are idle
    table.sweep_idle()
    assert table.count == 101 and table.evicted_total == 100
    # Survivors are still found (index rebuilt) rather than duplicated.
    feed(table, keys_for(100, offset=100), 13.0)
    assert table.count == 101


def test_memory_per_flow_is_under_budget():
    flows = 200_000
    tracemalloc.start()
    table = FlowTable(max_flows=flows, initial_capacity=flows)
    for begin in range(0, flows, 20_000):
        feed(table, keys_for(20_000, offset=begin), 1.0)
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert table.count == flows
    per_flow = current / flows
    assert per_flow <= MAX_BYTES_PER_FLOW, per_flow
    assert table.bytes_per_flow() <= MAX_BYTES_PER_FLOW


def test_engine_feeds_the_table_from_real_frames():
    frames = syn.mixed_frames(3000, seed=9)
    engine = PacketEngine(flow_table=FlowTable(max_flows=100_000))
    data, offsets = syn.to_batch(frames)
    for begin in range(0, 3000, 512):
        engine.process(data, offsets[begin : begin + 512], np.full(min(512, 3000 - begin), 1.0))
    table = engine.flow_table
    ip_frames = [
        f for f in frames if isinstance(dpkt.ethernet.Ethernet(f).data, dpkt.ip.IP | dpkt.ip6.IP6)
    ]
    assert table.packets[: table.count].sum() == len(ip_frames)
    assert table.bytes[: table.count].sum() == sum(len(f) for f in ip_frames)


def test_flows_sharing_a_hash_stay_separate(monkeypatch):
    from packet_service import flow_table as module

    monkeypatch.setattr(module, "hash_keys", lambda cols: np.zeros(cols[0].shape[0], np.uint64))
    table = FlowTable(max_flows=100, initial_capacity=16)
    keys = keys_for(5)
    batch = np.concatenate([keys, keys[2:3]])
    table.update(batch, np.arange(1, 7) * 10, np.arange(6, dtype=float), np.zeros(6, np.uint8))
    feed(table, keys[:2], 9.0)
    assert table.count == 5
    by_port = {f.src_port: f for f in table.top(5)}
    assert [by_port[p].packets for p in range(5)] == [2, 2, 2, 1, 1]
    assert by_port[2].bytes == 30 + 60 and by_port[2].last_seen == 5.0


def test_rows_not_counted_leave_no_trace_even_while_the_table_grows():
    # Rows that are not IP reach the table uncompacted and must be skipped, including in
    # a batch that makes the table grow (the skipped rows' sink row moves then).
    table = FlowTable(max_flows=1000, initial_capacity=16)
    keys = keys_for(40)
    counted = np.arange(40) % 3 != 0
    table.update(keys, np.full(40, 100), np.full(40, 1.0), np.zeros(40, np.uint8), counted=counted)
    assert table.count == int(counted.sum())
    assert table.packets[: table.count].sum() == counted.sum()
    assert table.bytes[: table.count].sum() == 100 * counted.sum()
    ports = sorted(f.src_port for f in table.top(100))
    assert ports == [int(p) for p in np.flatnonzero(counted)]
    feed(table, keys[1:2], 2.0)
    assert table.top(1)[0].packets == 2 and table.top(1)[0].src_port == 1
