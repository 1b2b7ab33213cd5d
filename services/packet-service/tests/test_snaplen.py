"""Header-only captures: frames cut at a snap length are parsed as far as their headers go
and counted as normal packets, with captured and wire bytes both reported; frames whose
headers contradict themselves stay malformed."""

from __future__ import annotations

import ipaddress
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from packet_service import synthetic as syn
from packet_service.engine import PacketEngine
from packet_service.parser import PARSE_ERROR_REASONS, parse_batch

SERVICE_DIR = Path(__file__).resolve().parents[1]
SNAPLEN = 96
V6A = ipaddress.IPv6Address("2001:db8::1").packed
V6B = ipaddress.IPv6Address("2001:db8::2").packed
COLUMNS = ("error", "ip_version", "vlan", "protocol", "src_lo", "dst_lo", "src_hi", "ports")


def header_only_traffic() -> list[bytes]:
    """Typical frames with payloads much longer than the snap length."""
    payload = bytes(range(256)) * 5
    return [
        syn.ethernet(
            syn.ipv4("10.0.0.1", "10.0.0.2", 6, syn.tcp(1000, 443, 0x18, payload)), 0x0800
        ),
        syn.ethernet(syn.ipv4("10.0.0.3", "10.0.0.4", 17, syn.udp(53, 5353, payload)), 0x0800),
        syn.ethernet(syn.ipv4("10.0.0.5", "10.0.0.6", 1, syn.icmp(8, 0, payload)), 0x0800),
        syn.ethernet(syn.ipv6(V6A, V6B, 6, syn.tcp(2000, 22, 0x10, payload)), 0x86DD),
        syn.ethernet(
            syn.ipv4("10.0.0.7", "10.0.0.8", 6, syn.tcp(3000, 80, 0x02, payload)), 0x0800, [7]
        ),
        syn.ethernet(syn.ipv6(V6B, V6A, 17, syn.udp(9, 10, payload[:20])), 0x86DD),  # short
    ]


def cut(frames: list[bytes], snaplen: int = SNAPLEN):
    data, offsets = syn.to_batch([f[:snaplen] for f in frames])
    wire = np.array([len(f) for f in frames], dtype=np.uint32)
    return data, offsets, wire


def reason(parsed, row: int) -> str:
    return PARSE_ERROR_REASONS[int(parsed.error[row])]


def test_cut_frames_parse_like_whole_ones():
    frames = header_only_traffic()
    whole = parse_batch(*syn.to_batch(frames))
    data, offsets, wire = cut(frames)
    assert (offsets[:, 1] < wire).sum() == 5  # all but the short one were cut
    headers = parse_batch(data, offsets, wire_lengths=wire)
    for column in COLUMNS:
        assert np.array_equal(getattr(headers, column), getattr(whole, column)), column
    assert np.array_equal(headers.tcp_flags, whole.tcp_flags)
    assert headers.error.sum() == 0
    # without the wire lengths the same bytes are truncated frames, as before
    blind = parse_batch(data, offsets)
    assert [reason(blind, i) for i in range(5)] == ["truncated_ipv4"] * 3 + [
        "truncated_ipv6",
        "truncated_ipv4",
    ]


def with_total_length(frame: bytes, total: int) -> bytes:
    return frame[:16] + struct.pack("!H", total) + frame[18:]


def test_headers_that_contradict_themselves_stay_malformed():
    good = header_only_traffic()[0]  # 14 + 20 + 20 + 1280 bytes
    frames = [
        with_total_length(good, 60_000),  # longer than the frame was on the wire
        with_total_length(good, 10),  # shorter than its own header
        good,  # cut inside the TCP header: its ports and flags were not captured
    ]
    data, offsets, wire = cut(frames[:2])
    parsed = parse_batch(data, offsets, wire_lengths=wire)
    assert [reason(parsed, 0), reason(parsed, 1)] == ["truncated_ipv4", "bad_ipv4_header"]
    data, offsets, wire = cut(frames[2:], snaplen=14 + 20 + 10)
    parsed = parse_batch(data, offsets, wire_lengths=wire)
    assert reason(parsed, 0) == "truncated_tcp"
    # a frame that was not cut (wire = captured) is held to its captured length
    whole = with_total_length(good, len(good) - 14 + 1)
    data, offsets = syn.to_batch([whole])
    parsed = parse_batch(data, offsets, wire_lengths=offsets[:, 1].copy())
    assert reason(parsed, 0) == "truncated_ipv4"


def test_the_engine_counts_captured_and_wire_bytes_and_flows_count_wire_bytes():
    frames = header_only_traffic()
    engine = PacketEngine(history_seconds=0)
    data, offsets, wire = cut(frames)
    result = engine.process(data, offsets, None, 1, wire)
    assert result.malformed == 0
    assert result.bytes == int(offsets[:, 1].sum()) and result.bytes_wire == int(wire.sum())
    assert engine.counters.bytes_wire == int(wire.sum()) > engine.counters.bytes
    flows = {f.src: f.bytes for f in engine.flow_table.top(10)}
    assert flows["10.0.0.1"] == len(frames[0])


@pytest.mark.parametrize("pcapng", [False, True], ids=["pcap", "pcapng"])
def test_ingest_of_a_header_only_capture(tmp_path, pcapng):
    frames = header_only_traffic() * 50
    path = tmp_path / ("cut.pcapng" if pcapng else "cut.pcap")
    syn.write_capture(
        path, [(1_700_000_000 + i / 10, f) for i, f in enumerate(frames)], SNAPLEN, pcapng
    )
    done = subprocess.run(
        [sys.executable, "-m", "packet_service", "ingest", str(path), "--json"],
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["packets"] == len(frames)
    assert summary["verdicts"]["malformed"] == 0 and summary["parse_errors"] == {}
    assert summary["bytes"] == sum(min(len(f), SNAPLEN) for f in frames)
    assert summary["bytes_wire"] == sum(map(len, frames))
    assert summary["flows"] == 6
    top = {f["src"]: f["bytes"] for f in summary["top_flows"]}
    assert top["10.0.0.1:1000"] == 50 * len(frames[0])
