"""The Ingest accumulator (small batches processed together) and the slot pool."""

from __future__ import annotations

import queue

import numpy as np
import pytest
from packet_service import synthetic as syn
from packet_service.coalesce import IngestAccumulator
from packet_service.engine import PacketEngine
from packet_service.parser import LINK_RAW
from packet_service.slot_pool import SlotPool


def test_small_batches_are_processed_together_and_totals_add_up():
    frames = syn.mixed_frames(1000, seed=2)
    engine = PacketEngine()
    pool = SlotPool(slots=1, slot_bytes=1 << 20, max_packets=512)
    accumulator = IngestAccumulator(engine, pool, flush_packets=512)
    for start in range(0, 1000, 100):
        data, offsets = syn.to_batch(frames[start : start + 100])
        accumulator.add(data, offsets, None)
    assert engine.counters.batches == 1  # 500 pending + 100 did not fit: one flush so far
    totals = accumulator.close()
    assert pool.available() == 1
    assert totals.batches == 10 and totals.packets == 1000
    assert totals.bytes == sum(map(len, frames)) == engine.counters.bytes
    assert totals.allow + totals.drop + totals.malformed == 1000
    assert engine.counters.batches < 10


def test_link_type_change_and_oversized_batches():
    engine = PacketEngine()
    accumulator = IngestAccumulator(engine, SlotPool(1, 4096, 64))
    eth = syn.mixed_frames(10, seed=3)
    raw = [syn.ipv4("10.0.0.1", "10.0.0.2", 17, syn.udp(1, 2))] * 5
    accumulator.add(*syn.to_batch(eth), np.full(10, 5.0))
    accumulator.add(*syn.to_batch(raw), None, LINK_RAW)  # flushes the Ethernet frames first
    big = syn.mixed_frames(100, seed=4)  # more frames than a slot holds: processed as is
    accumulator.add(*syn.to_batch(big), None)
    totals = accumulator.close()
    assert totals.packets == 115 and totals.malformed == 0
    assert engine.counters.batches == 3


def test_slot_pool_hands_out_preallocated_slots():
    pool = SlotPool(slots=2, slot_bytes=128, max_packets=4)
    a, b = pool.acquire(), pool.acquire()
    assert a.data is not b.data and pool.available() == 0
    a.count, a.used = 3, 50
    pool.release(a)
    again = pool.acquire()
    assert again is a and again.count == 0 and again.used == 0
    with pytest.raises(queue.Empty):
        pool.acquire(timeout=0.01)


def test_a_stream_that_never_pauses_is_flushed_by_the_age_of_its_oldest_frame():
    now = [100.0]
    engine = PacketEngine()
    accumulator = IngestAccumulator(
        engine, SlotPool(1, 1 << 20, 8192), flush_packets=8192, monotonic=lambda: now[0]
    )
    data, offsets = syn.to_batch(syn.mixed_frames(5, seed=6))
    for _ in range(10):  # a batch every 62.5 ms: never idle for 250 ms
        accumulator.add(data, offsets, None)
        now[0] += 0.0625
        accumulator.flush_if_waiting(0.25)
    # flushed after the 4th and the 8th add, when their oldest frame had waited 250 ms
    assert engine.counters.packets == 40 and engine.counters.batches == 2
    accumulator.add(data, offsets, None)
    accumulator.flush_if_waiting(0.25)
    assert engine.counters.packets == 40  # the oldest frame has waited only 125 ms
    now[0] += 0.125
    accumulator.flush_if_waiting(0.25)
    assert engine.counters.packets == 55
    accumulator.flush_if_waiting(0.25)  # an empty slot: nothing to do
    assert accumulator.close().packets == 55
