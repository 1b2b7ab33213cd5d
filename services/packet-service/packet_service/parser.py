"""Vectorized L2-L4 header parsing of a whole batch of frames at once.

A batch is one uint8 blob plus an (n, 2) uint32 table of (start, length) pairs. Every field
is read for all frames with one numpy gather; a read happens only where a mask proves it
lies inside its own frame (other rows read a harmless index 0 and are masked out), so no
frame is ever read past its end and nothing raises for a malformed frame: it gets a reason
code instead. No grpc here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINK_ETHERNET = 1
LINK_RAW = 101
SUPPORTED_LINK_TYPES = (0, LINK_ETHERNET, LINK_RAW)  # 0 = unspecified = Ethernet

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
MAX_VLAN_TAGS = 2  # 802.1Q and QinQ; a third tag leaves the frame as "not IP"

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58
# IPv6 extension headers walked to reach the upper-layer header: hop-by-hop, routing,
# fragment, destination options (and AH, whose length unit differs).
IPV6_EXT_HOP, IPV6_EXT_ROUTING, IPV6_EXT_FRAGMENT, IPV6_EXT_AH, IPV6_EXT_DSTOPTS = 0, 43, 44, 51, 60
IPV6_EXT_HEADERS = (
    IPV6_EXT_HOP,
    IPV6_EXT_ROUTING,
    IPV6_EXT_FRAGMENT,
    IPV6_EXT_AH,
    IPV6_EXT_DSTOPTS,
)
MAX_IPV6_EXT_HEADERS = 8

# Reason codes of malformed frames, index = code. 0 = parsed fine.
PARSE_ERROR_REASONS = (
    "ok",
    "truncated_ethernet",
    "truncated_vlan",
    "truncated_ipv4",
    "bad_ipv4_header",
    "truncated_ipv6",
    "bad_ipv6_header",
    "truncated_ipv6_extension",
    "ipv6_extension_chain_too_long",
    "truncated_tcp",
    "truncated_udp",
    "truncated_icmp",
    "bad_ip_version",
)
(
    OK,
    TRUNCATED_ETHERNET,
    TRUNCATED_VLAN,
    TRUNCATED_IPV4,
    BAD_IPV4_HEADER,
    TRUNCATED_IPV6,
    BAD_IPV6_HEADER,
    TRUNCATED_IPV6_EXT,
    IPV6_EXT_CHAIN_TOO_LONG,
    TRUNCATED_TCP,
    TRUNCATED_UDP,
    TRUNCATED_ICMP,
    BAD_IP_VERSION,
) = range(len(PARSE_ERROR_REASONS))

# IPv4 addresses are held as IPv4-mapped IPv6 (::ffff:a.b.c.d) so one pair of uint64
# columns serves both families and rule CIDRs compare the same way.
V4_MAPPED_LO = np.uint64(0x0000FFFF00000000)
_MIN_BLOB = 64  # rows that are masked out read indexes < 16; tiny blobs are padded to this
_BYTE8 = np.arange(8, dtype=np.int64)
_BYTE4 = np.arange(4, dtype=np.int64)


@dataclass(slots=True)
class ParsedBatch:
    """Struct of arrays, one row per frame. -1 marks "absent" in the signed columns."""

    length: np.ndarray  # int64 frame length in bytes
    error: np.ndarray  # uint8 reason code (PARSE_ERROR_REASONS), 0 = fine
    ip_version: np.ndarray  # uint8: 4, 6, or 0 for a frame that is not IP (ARP, ...)
    vlan: np.ndarray  # int32 outermost 802.1Q VLAN id, -1 untagged
    inner_vlan: np.ndarray  # int32 second (QinQ) VLAN id, -1 none
    protocol: np.ndarray  # int16 IP protocol / IPv6 upper-layer header, -1 not IP
    src_hi: np.ndarray  # uint64 high half of the (IPv4-mapped) source address
    src_lo: np.ndarray  # uint64 low half
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    src_port: np.ndarray  # int32, -1 without ports (ICMP, non-first fragment, not IP)
    dst_port: np.ndarray
    tcp_flags: np.ndarray  # uint8, 0 when not TCP
    icmp_type: np.ndarray  # int16, -1 when not ICMP/ICMPv6
    icmp_code: np.ndarray
    fragment: np.ndarray  # bool: part of a fragmented IP packet
    later_fragment: np.ndarray  # bool: a non-first fragment, which carries no L4 header

    def __len__(self) -> int:
        return int(self.length.shape[0])


def offsets_from_bytes(raw: bytes | memoryview) -> np.ndarray:
    """(n, 2) uint32 view of little-endian (start, length) pairs; caller checks len % 8."""
    return np.frombuffer(raw, dtype="<u4").reshape(-1, 2)


def validate_offsets(offsets: np.ndarray, blob_size: int) -> str | None:
    """Why the offsets table does not fit the blob, or None when every frame lies inside it."""
    if offsets.shape[0] == 0:
        return None
    ends = offsets[:, 0].astype(np.int64) + offsets[:, 1]
    bad = np.flatnonzero(ends > blob_size)
    if bad.size:
        i = int(bad[0])
        return (
            f"frame {i} (start {int(offsets[i, 0])}, length {int(offsets[i, 1])}) ends past "
            f"the {blob_size}-byte blob"
        )
    return None


def parse_batch(
    data: np.ndarray, offsets: np.ndarray, link_type: int = LINK_ETHERNET
) -> ParsedBatch:
    """Parse every frame of the batch. `offsets` must already fit `data` (validate_offsets)."""
    n = offsets.shape[0]
    if data.shape[0] < _MIN_BLOB:  # keep masked-out reads (index 0..15) inside the blob
        padded = np.zeros(_MIN_BLOB, dtype=np.uint8)
        padded[: data.shape[0]] = data
        data = padded
    start = offsets[:, 0].astype(np.int64)
    length = offsets[:, 1].astype(np.int64)
    end = start + length
    error = np.zeros(n, dtype=np.uint8)

    def u8(pos: np.ndarray, ok: np.ndarray) -> np.ndarray:
        return data[np.where(ok, pos, 0)].astype(np.int64)

    def be16(pos: np.ndarray, ok: np.ndarray) -> np.ndarray:
        i = np.where(ok, pos, 0)
        return (data[i].astype(np.int64) << 8) | data[i + 1]

    def fail(mask: np.ndarray, reason: int) -> None:
        # The first problem found is the one reported.
        error[mask & (error == 0)] = reason

    # ---------------------------------------------------------------- layer 2
    vlan = np.full(n, -1, dtype=np.int32)
    inner_vlan = np.full(n, -1, dtype=np.int32)
    if link_type == LINK_RAW:
        has_byte = length >= 1
        fail(~has_byte, BAD_IP_VERSION)
        nibble = u8(start, has_byte) >> 4
        ethertype = np.where(nibble == 4, ETH_IPV4, np.where(nibble == 6, ETH_IPV6, 0))
        fail(has_byte & (ethertype == 0), BAD_IP_VERSION)
        pos = start.copy()
    else:
        eth_ok = length >= 14
        fail(~eth_ok, TRUNCATED_ETHERNET)
        ethertype = np.where(eth_ok, be16(start + 12, eth_ok), 0)
        pos = start + 14
        for depth in range(MAX_VLAN_TAGS):
            tagged = _any_of(ethertype, VLAN_TPIDS)
            if not tagged.any():
                break
            tag_ok = tagged & (pos + 4 <= end)
            fail(tagged & ~tag_ok, TRUNCATED_VLAN)
            tci = be16(pos, tag_ok) & 0x0FFF
            target = vlan if depth == 0 else inner_vlan
            target[tag_ok] = tci[tag_ok]
            ethertype = np.where(tag_ok, be16(pos + 2, tag_ok), np.where(tagged, 0, ethertype))
            pos = np.where(tag_ok, pos + 4, pos)

    ip_version = np.zeros(n, dtype=np.uint8)
    protocol = np.full(n, -1, dtype=np.int16)
    src_hi = np.zeros(n, dtype=np.uint64)
    src_lo = np.zeros(n, dtype=np.uint64)
    dst_hi = np.zeros(n, dtype=np.uint64)
    dst_lo = np.zeros(n, dtype=np.uint64)
    fragment = np.zeros(n, dtype=bool)
    later_fragment = np.zeros(n, dtype=bool)
    l4 = np.zeros(n, dtype=np.int64)  # offset of the upper-layer header
    ip_end = np.zeros(n, dtype=np.int64)  # end of the IP packet (frame may carry padding)

    # ---------------------------------------------------------------- IPv4
    is_v4 = (ethertype == ETH_IPV4) & (error == 0)
    if is_v4.any():
        ok = is_v4 & (pos + 20 <= end)
        fail(is_v4 & ~ok, TRUNCATED_IPV4)
        first = u8(pos, ok)
        header_len = (first & 0x0F) * 4
        total_len = be16(pos + 2, ok)
        bad = ok & (((first >> 4) != 4) | (header_len < 20) | (total_len < header_len))
        fail(bad, BAD_IPV4_HEADER)
        ok &= ~bad
        short = ok & (pos + total_len > end)
        fail(short, TRUNCATED_IPV4)
        ok &= ~short
        rows = np.flatnonzero(ok)
        p = pos[rows]
        ip_version[rows] = 4
        protocol[rows] = data[p + 9]
        frag_field = (data[p + 6].astype(np.int64) << 8) | data[p + 7]
        fragment[rows] = (frag_field & 0x3FFF) != 0  # MF flag or a non-zero offset
        later_fragment[rows] = (frag_field & 0x1FFF) != 0
        src_lo[rows] = _be_words(data, p + 12, _BYTE4, ">u4") | V4_MAPPED_LO
        dst_lo[rows] = _be_words(data, p + 16, _BYTE4, ">u4") | V4_MAPPED_LO
        l4[rows] = p + header_len[rows]
        ip_end[rows] = p + total_len[rows]

    # ---------------------------------------------------------------- IPv6
    is_v6 = (ethertype == ETH_IPV6) & (error == 0)
    if is_v6.any():
        ok = is_v6 & (pos + 40 <= end)
        fail(is_v6 & ~ok, TRUNCATED_IPV6)
        bad = ok & ((u8(pos, ok) >> 4) != 6)
        fail(bad, BAD_IPV6_HEADER)
        ok &= ~bad
        payload_end = pos + 40 + be16(pos + 4, ok)
        short = ok & (payload_end > end)
        fail(short, TRUNCATED_IPV6)
        ok &= ~short
        next_header = u8(pos + 6, ok)
        cursor = pos + 40
        walking = ok.copy()
        for _ in range(MAX_IPV6_EXT_HEADERS):
            ext = walking & _any_of(next_header, IPV6_EXT_HEADERS)
            if not ext.any():
                break
            fits = ext & (cursor + 8 <= payload_end)
            fail(ext & ~fits, TRUNCATED_IPV6_EXT)
            following = u8(cursor, fits)
            len_field = u8(cursor + 1, fits)
            is_frag = fits & (next_header == IPV6_EXT_FRAGMENT)
            frag_offset = be16(cursor + 2, is_frag) >> 3
            fragment |= is_frag
            later_fragment |= is_frag & (frag_offset != 0)
            size = np.where(
                next_header == IPV6_EXT_FRAGMENT,
                8,
                np.where(next_header == IPV6_EXT_AH, (len_field + 2) * 4, (len_field + 1) * 8),
            )
            overrun = fits & (cursor + size > payload_end)
            fail(overrun, TRUNCATED_IPV6_EXT)
            step = fits & ~overrun
            next_header = np.where(step, following, next_header)
            cursor = np.where(step, cursor + size, cursor)
            ok &= ~(ext & ~step)
            # Bytes after a non-first fragment's header are payload, not more headers.
            walking = step & ~later_fragment
        too_long = ok & _any_of(next_header, IPV6_EXT_HEADERS) & ~later_fragment
        fail(too_long, IPV6_EXT_CHAIN_TOO_LONG)
        ok &= ~too_long
        rows = np.flatnonzero(ok)
        p = pos[rows]
        ip_version[rows] = 6
        protocol[rows] = next_header[rows]
        src_hi[rows] = _be_words(data, p + 8, _BYTE8, ">u8")
        src_lo[rows] = _be_words(data, p + 16, _BYTE8, ">u8")
        dst_hi[rows] = _be_words(data, p + 24, _BYTE8, ">u8")
        dst_lo[rows] = _be_words(data, p + 32, _BYTE8, ">u8")
        l4[rows] = cursor[rows]
        ip_end[rows] = payload_end[rows]

    # ---------------------------------------------------------------- layer 4
    src_port = np.full(n, -1, dtype=np.int32)
    dst_port = np.full(n, -1, dtype=np.int32)
    tcp_flags = np.zeros(n, dtype=np.uint8)
    icmp_type = np.full(n, -1, dtype=np.int16)
    icmp_code = np.full(n, -1, dtype=np.int16)
    has_l4 = (ip_version != 0) & ~later_fragment & (error == 0)
    if has_l4.any():
        room = ip_end - l4
        tcp = has_l4 & (protocol == PROTO_TCP)
        udp = has_l4 & (protocol == PROTO_UDP)
        icmp = has_l4 & ((protocol == PROTO_ICMP) | (protocol == PROTO_ICMPV6))
        fail(tcp & (room < 20), TRUNCATED_TCP)
        fail(udp & (room < 8), TRUNCATED_UDP)
        fail(icmp & (room < 4), TRUNCATED_ICMP)
        ported = (tcp & (room >= 20)) | (udp & (room >= 8))
        rows = np.flatnonzero(ported)
        p = l4[rows]
        src_port[rows] = (data[p].astype(np.int32) << 8) | data[p + 1]
        dst_port[rows] = (data[p + 2].astype(np.int32) << 8) | data[p + 3]
        tcp_rows = np.flatnonzero(tcp & (room >= 20))
        tcp_flags[tcp_rows] = data[l4[tcp_rows] + 13]
        icmp_rows = np.flatnonzero(icmp & (room >= 4))
        icmp_type[icmp_rows] = data[l4[icmp_rows]]
        icmp_code[icmp_rows] = data[l4[icmp_rows] + 1]

    return ParsedBatch(
        length=length,
        error=error,
        ip_version=ip_version,
        vlan=vlan,
        inner_vlan=inner_vlan,
        protocol=protocol,
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        src_port=src_port,
        dst_port=dst_port,
        tcp_flags=tcp_flags,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
        fragment=fragment,
        later_fragment=later_fragment,
    )


def _any_of(values: np.ndarray, choices: tuple[int, ...]) -> np.ndarray:
    """np.isin for a handful of constants, without isin's sort (much faster on small batches)."""
    match = values == choices[0]
    for choice in choices[1:]:
        match |= values == choice
    return match


def _be_words(data: np.ndarray, pos: np.ndarray, byte_index: np.ndarray, dtype: str) -> np.ndarray:
    """One big-endian 4- or 8-byte word per row, starting at `pos`, as uint64."""
    raw = data[pos[:, None] + byte_index]  # (rows, width) uint8, C-contiguous
    return raw.view(dtype)[:, 0].astype(np.uint64)
