"""Property tests on random and mutated frames: never an exception, never a read outside
the frame, exactly one verdict per frame and counts that add up."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packet_service import synthetic as syn
from packet_service.classifier import VERDICT_MALFORMED
from packet_service.engine import PacketEngine
from packet_service.flow_table import FlowTable
from packet_service.parser import LINK_RAW, PARSE_ERROR_REASONS, parse_batch

SEEDS = syn.mixed_frames(300, seed=5)
FIELDS = ("ip_version", "vlan", "protocol", "src_port", "dst_port", "tcp_flags", "icmp_type")


@st.composite
def mutated_frame(draw) -> bytes:
    frame = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        if frame:
            frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(frame)))
    return bytes(frame[: cut if draw(st.booleans()) else len(frame)])


frames_strategy = st.lists(st.one_of(st.binary(max_size=120), mutated_frame()), max_size=40)


def _fenced(frames: list[bytes], fence: int) -> tuple[np.ndarray, np.ndarray]:
    """Each frame followed by 64 fence bytes: a read past a frame would see them."""
    padded = [f + bytes([fence]) * 64 for f in frames]
    data, offsets = syn.to_batch(padded)
    offsets[:, 1] -= 64
    return data, offsets


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames_strategy, st.sampled_from([1, 101]))
def test_parser_never_raises_and_never_reads_past_a_frame(frames, link_type):
    # The same frames with two different fences must parse identically.
    first = parse_batch(*_fenced(frames, 0x00), link_type=link_type)
    second = parse_batch(*_fenced(frames, 0xFF), link_type=link_type)
    assert len(first) == len(frames)
    for name in (*FIELDS, "error", "src_lo", "dst_lo", "src_hi", "dst_hi"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    assert int(first.error.max(initial=0)) < len(PARSE_ERROR_REASONS)


@settings(max_examples=150, deadline=None)
@given(frames_strategy)
def test_every_frame_gets_exactly_one_verdict_and_counts_add_up(frames):
    engine = PacketEngine(flow_table=FlowTable(max_flows=64, initial_capacity=16))
    data, offsets = syn.to_batch(frames)
    result = engine.process(data, offsets)
    assert result.verdicts.shape == (len(frames),)
    assert set(np.unique(result.verdicts).tolist()) <= {1, 2, 3}
    assert result.allow + result.drop + result.malformed == len(frames)
    assert result.malformed == result.parse_errors
    assert engine.counters.parse_errors[1:].sum() == result.parse_errors
    assert engine.counters.verdicts[VERDICT_MALFORMED] == result.malformed
    assert engine.counters.packets == len(frames)
    assert engine.flow_table.packets[: engine.flow_table.count].sum() <= len(frames)


def test_raw_and_ethernet_agree_on_the_ip_part():
    frames = [f for f in SEEDS if f[12:14] in (b"\x08\x00", b"\x86\xdd")]
    eth = parse_batch(*syn.to_batch(frames))
    raw = parse_batch(*syn.to_batch([f[14:] for f in frames]), link_type=LINK_RAW)
    for name in ("ip_version", "protocol", "src_port", "dst_port", "src_lo", "dst_lo"):
        assert np.array_equal(getattr(eth, name), getattr(raw, name)), name
