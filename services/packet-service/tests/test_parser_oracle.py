"""The vectorized parser, field by field, against dpkt (a test-only oracle)."""

from __future__ import annotations

import ipaddress

import dpkt
import numpy as np
import pytest
from packet_service import synthetic as syn
from packet_service.parser import (
    LINK_RAW,
    PARSE_ERROR_REASONS,
    parse_batch,
)

V6_EXT = (0, 43, 44, 51, 60)


def _address(parsed, row: int, which: str) -> str:
    hi = int(getattr(parsed, f"{which}_hi")[row])
    lo = int(getattr(parsed, f"{which}_lo")[row])
    if parsed.ip_version[row] == 4:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def oracle(frame: bytes) -> dict:
    """What dpkt sees in one frame, in the parser's vocabulary."""
    eth = dpkt.ethernet.Ethernet(frame)
    tags = getattr(eth, "vlan_tags", []) or []
    out = {
        "vlan": tags[0].id if tags else -1,
        "inner_vlan": tags[1].id if len(tags) > 1 else -1,
        "ip_version": 0,
        "protocol": -1,
        "src_port": -1,
        "dst_port": -1,
        "tcp_flags": 0,
        "icmp_type": -1,
        "icmp_code": -1,
        "fragment": False,
        "later_fragment": False,
    }
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        out.update(ip_version=4, protocol=ip.p, src=str(ipaddress.IPv4Address(ip.src)))
        out["dst"] = str(ipaddress.IPv4Address(ip.dst))
        out["fragment"] = bool(ip.mf or ip.offset)
        out["later_fragment"] = bool(ip.offset)
        l4 = ip.data if not ip.offset else None
    elif isinstance(ip, dpkt.ip6.IP6):
        out.update(ip_version=6, src=str(ipaddress.IPv6Address(ip.src)))
        out["dst"] = str(ipaddress.IPv6Address(ip.dst))
        # dpkt keeps the extension headers in order; the upper-layer protocol is ip.p.
        out["protocol"] = ip.p
        frag = ip.extension_hdrs.get(44)
        if frag is not None:
            out["fragment"] = True
            out["later_fragment"] = frag.frag_off != 0
        l4 = ip.data if not out["later_fragment"] else None
    else:
        return out
    if isinstance(l4, dpkt.tcp.TCP):
        out.update(src_port=l4.sport, dst_port=l4.dport, tcp_flags=l4.flags)
    elif isinstance(l4, dpkt.udp.UDP):
        out.update(src_port=l4.sport, dst_port=l4.dport)
    elif isinstance(l4, dpkt.icmp.ICMP | dpkt.icmp6.ICMP6):
        out.update(icmp_type=l4.type, icmp_code=l4.code)
    return out


def test_every_protocol_path_is_in_the_mix(mixed_frames):
    seen = set()
    for frame in mixed_frames:
        o = oracle(frame)
        seen.add((o["ip_version"], o["protocol"], o["vlan"] >= 0, o["inner_vlan"] >= 0))
        if o["later_fragment"]:
            seen.add(("later_fragment", o["ip_version"]))
    for needed in [(4, 6), (4, 17), (4, 1), (6, 6), (6, 17), (6, 58), (0, -1)]:
        assert any(s[:2] == needed for s in seen if isinstance(s[0], int)), needed
    assert ("later_fragment", 4) in seen and ("later_fragment", 6) in seen
    assert any(s[2] for s in seen if isinstance(s[0], int)), "no 802.1Q frame"
    assert any(s[3] for s in seen if isinstance(s[0], int)), "no QinQ frame"


def test_parser_matches_dpkt_field_by_field(mixed_frames):
    data, offsets = syn.to_batch(mixed_frames)
    parsed = parse_batch(data, offsets)
    assert len(parsed) == len(mixed_frames)
    assert not parsed.error.any(), [PARSE_ERROR_REASONS[e] for e in parsed.error if e]
    for row, frame in enumerate(mixed_frames):
        want = oracle(frame)
        for name, value in want.items():
            if name in ("src", "dst"):
                got = _address(parsed, row, name)
            else:
                got = getattr(parsed, name)[row].item()
            assert got == value, (row, name, got, value)
        assert parsed.length[row] == len(frame)


def test_ipv6_extension_chain_and_ipv4_options():
    src, dst = bytes(15) + b"\x01", bytes(15) + b"\x02"
    chain = syn.ipv6_ext(43, 1) + syn.ipv6_ext(60, 0) + syn.ipv6_ext(6, 2)
    frames = [
        syn.ethernet(syn.ipv6(src, dst, 0, chain + syn.tcp(1234, 443, 0x12)), 0x86DD),
        syn.ethernet(
            syn.ipv4("1.2.3.4", "5.6.7.8", 17, syn.udp(53, 5353), b"\x94\x04\x00\x00" * 3), 0x0800
        ),
        syn.ethernet(
            syn.ipv6(src, dst, 44, syn.ipv6_fragment(17, 0, True) + syn.udp(9, 10)), 0x86DD, (7,)
        ),
    ]
    parsed = parse_batch(*syn.to_batch(frames))
    for row, frame in enumerate(frames):
        want = oracle(frame)
        for name in ("protocol", "src_port", "dst_port", "tcp_flags", "vlan", "fragment"):
            assert getattr(parsed, name)[row].item() == want[name], (row, name)


def test_raw_ip_link_type():
    packet = syn.ipv4("10.0.0.1", "10.0.0.2", 6, syn.tcp(1, 2, 0x02))
    parsed = parse_batch(*syn.to_batch([packet, b"\x70" + bytes(30), b""]), link_type=LINK_RAW)
    assert parsed.ip_version.tolist() == [4, 0, 0]
    assert parsed.src_port[0] == 1 and parsed.dst_port[0] == 2
    assert [PARSE_ERROR_REASONS[e] for e in parsed.error] == [
        "ok",
        "bad_ip_version",
        "bad_ip_version",
    ]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x00" * 13, "truncated_ethernet"),
        (syn.ethernet(b"", 0x8100), "truncated_vlan"),
        (syn.ethernet(b"\x45" + bytes(10), 0x0800), "truncated_ipv4"),
        (syn.ethernet(b"\x44" + bytes(19), 0x0800), "bad_ipv4_header"),
        (
            syn.ethernet(syn.ipv4("1.1.1.1", "2.2.2.2", 6, syn.tcp(1, 2, 2))[:30], 0x0800),
            "truncated_ipv4",
        ),
        (syn.ethernet(bytes(20), 0x86DD), "truncated_ipv6"),
        (syn.ethernet(b"\x40" + bytes(39), 0x86DD), "bad_ipv6_header"),
        (
            syn.ethernet(syn.ipv6(bytes(16), bytes(16), 0, b"\x06\x05" + bytes(6)), 0x86DD),
            "truncated_ipv6_extension",
        ),
        (syn.ethernet(syn.ipv4("1.1.1.1", "2.2.2.2", 6, b"\x00" * 10), 0x0800), "truncated_tcp"),
        (syn.ethernet(syn.ipv4("1.1.1.1", "2.2.2.2", 17, b"\x00" * 4), 0x0800), "truncated_udp"),
        (syn.ethernet(syn.ipv4("1.1.1.1", "2.2.2.2", 1, b"\x08"), 0x0800), "truncated_icmp"),
        (
            syn.ethernet(syn.ipv6(bytes(16), bytes(16), 0, syn.ipv6_ext(0, 0) * 9), 0x86DD),
            "ipv6_extension_chain_too_long",
        ),
    ],
)
def test_malformed_frames_get_a_reason(frame, reason):
    parsed = parse_batch(*syn.to_batch([frame]))
    assert PARSE_ERROR_REASONS[parsed.error[0]] == reason
    # A malformed frame is not a valid IP packet: no flow, no L3/L4 fields.
    assert parsed.ip_version[0] == 0 and parsed.protocol[0] == -1 and parsed.src_port[0] == -1


def test_non_ip_frames_are_fine_and_have_no_fields():
    arp = syn.ethernet(bytes(28), 0x0806, (12,))
    parsed = parse_batch(*syn.to_batch([arp]))
    assert parsed.error[0] == 0 and parsed.ip_version[0] == 0 and parsed.vlan[0] == 12
    assert parsed.protocol[0] == -1 and parsed.src_port[0] == -1


def test_empty_batch_and_zero_length_frames():
    parsed = parse_batch(np.zeros(0, np.uint8), np.zeros((0, 2), np.uint32))
    assert len(parsed) == 0
    parsed = parse_batch(np.zeros(0, np.uint8), np.zeros((3, 2), np.uint32))
    assert [PARSE_ERROR_REASONS[e] for e in parsed.error] == ["truncated_ethernet"] * 3
