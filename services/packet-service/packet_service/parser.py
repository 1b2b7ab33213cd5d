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
_ZERO64 = np.uint64(0)
# Membership tables: one gather answers "is this a VLAN TPID / an IPv6 extension header".
_IS_TPID = np.zeros(1 << 16, dtype=bool)
_IS_TPID[list(VLAN_TPIDS)] = True
_IS_EXT = np.zeros(256, dtype=bool)
_IS_EXT[list(IPV6_EXT_HEADERS)] = True
# Minimum upper-layer header per IP protocol (0 = not parsed) and which carry ports.
_L4_HEADER = np.zeros(256, dtype=np.int64)
_L4_HEADER[[PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6]] = (20, 8, 4, 4)
# Extension header size = length byte * unit + 8 (RFC 8200; AH counts 4-byte words less 2;
# the fragment header's length byte is reserved, its size is always 8).
_EXT_UNIT = np.zeros(256, dtype=np.int64)
_EXT_UNIT[[IPV6_EXT_HOP, IPV6_EXT_ROUTING, IPV6_EXT_DSTOPTS]] = 8
_EXT_UNIT[IPV6_EXT_AH] = 4
_HAS_PORTS = np.zeros(256, dtype=bool)
_HAS_PORTS[[PROTO_TCP, PROTO_UDP]] = True


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


def _views(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Big-endian 1/2/4/8-byte words starting at EVERY byte offset of the blob (stride 1),
    so reading a field at any position is one gather instead of one per byte."""
    size = data.shape[0]
    return (
        data,
        np.ndarray((size - 1,), dtype=">u2", buffer=data, strides=(1,)),
        np.ndarray((size - 3,), dtype=">u4", buffer=data, strides=(1,)),
        np.ndarray((size - 7,), dtype=">u8", buffer=data, strides=(1,)),
    )


# The network-header window: IPv4 and IPv6 fields at their offsets (they overlap; each
# row uses its own family's). 40 bytes hold both minimum headers.
_WINDOW = 40
_HEADER = np.dtype(
    {
        "names": [
            "first",
            "v4_total",
            "v6_payload",
            "v4_frag",
            "v6_next",
            "v4_proto",
            "v4_src",
            "v4_dst",
            "v6_src_hi",
            "v6_src_lo",
            "v6_dst_hi",
            "v6_dst_lo",
        ],
        "formats": [
            "u1",
            ">u2",
            ">u2",
            ">u2",
            "u1",
            "u1",
            ">u4",
            ">u4",
            ">u8",
            ">u8",
            ">u8",
            ">u8",
        ],
        "offsets": [0, 2, 4, 6, 6, 9, 12, 16, 8, 16, 24, 32],
        "itemsize": _WINDOW,
    }
)


def _window(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """_HEADER record per row, copied from `data` at `pos` (one gather of a stride-1
    (size - 39, 40) view). Rows too close to the blob's end read a zero-padded copy of
    its tail instead, so nothing is ever read outside the blob."""
    size = data.shape[0]
    last = size - _WINDOW
    rows = np.ndarray((last + 1, _WINDOW), dtype=np.uint8, buffer=data, strides=(1, 1))
    window = rows[np.minimum(pos, last)]
    near_end = np.flatnonzero(pos > last)
    if near_end.size:
        tail = np.zeros(2 * _WINDOW, dtype=np.uint8)
        tail[:_WINDOW] = data[last:]
        tail_rows = np.ndarray((_WINDOW + 1, _WINDOW), dtype=np.uint8, buffer=tail, strides=(1, 1))
        window[near_end] = tail_rows[np.minimum(pos[near_end] - last, _WINDOW)]
    return window.view(_HEADER)[:, 0]


def parse_batch(
    data: np.ndarray, offsets: np.ndarray, link_type: int = LINK_ETHERNET
) -> ParsedBatch:
    """Parse every frame of the batch. `offsets` must already fit `data` (validate_offsets).

    Every gather index is either proven (by a mask) to lie inside its frame or replaced by 0
    first; error masks are built so that a frame fails at most once (first problem wins).
    """
    n = offsets.shape[0]
    if data.shape[0] < _MIN_BLOB:  # keep masked-out reads (index 0..15) inside the blob
        padded = np.zeros(_MIN_BLOB, dtype=np.uint8)
        padded[: data.shape[0]] = data
        data = padded
    u8, u16, u32, _ = _views(data)
    start = offsets[:, 0].astype(np.int64)
    length = offsets[:, 1].astype(np.int64)
    end = start + length
    error = np.zeros(n, dtype=np.uint8)

    # ---------------------------------------------------------------- layer 2
    vlan = np.full(n, -1, dtype=np.int64)
    inner_vlan = np.full(n, -1, dtype=np.int64)
    if link_type == LINK_RAW:
        has_byte = length >= 1
        nibble = u8[np.where(has_byte, start, 0)] >> 4
        ethertype = np.where(nibble == 4, ETH_IPV4, np.where(nibble == 6, ETH_IPV6, 0))
        ethertype[~has_byte] = 0
        _mark(error, ethertype == 0, BAD_IP_VERSION)
        pos = start
    else:
        eth_ok = length >= 14
        _mark(error, ~eth_ok, TRUNCATED_ETHERNET)
        ethertype = u16[np.where(eth_ok, start + 12, 0)].astype(np.int64)
        if not eth_ok.all():
            ethertype[~eth_ok] = 0
        pos = start + 14
        # Tagged frames are a minority: walk the tags on that subset only.
        rows = np.flatnonzero(_IS_TPID[ethertype])
        for depth in range(MAX_VLAN_TAGS):
            if rows.size == 0:
                break
            at = pos[rows]
            tag_ok = at + 4 <= end[rows]
            if not tag_ok.all():
                error[rows[~tag_ok]] = TRUNCATED_VLAN
                ethertype[rows[~tag_ok]] = 0
                rows, at = rows[tag_ok], at[tag_ok]
            tag = u32[at].astype(np.int64)  # TCI, then the next ethertype
            (vlan if depth == 0 else inner_vlan)[rows] = (tag >> 16) & 0x0FFF
            ethertype[rows] = tag & 0xFFFF
            pos[rows] = at + 4
            rows = rows[_IS_TPID[ethertype[rows]]]

    # ---------------------------------------------------------------- IPv4 and IPv6
    # Both families are read together from one fixed-size window copied from every row's
    # network-header start (one gather); fields are then column views of that window at
    # per-family offsets. Window bytes past a frame's end are never used: every field is
    # masked by `fits` (the minimum header lies inside the frame) before it counts.
    is4 = ethertype == ETH_IPV4
    is6 = ethertype == ETH_IPV6
    is_ip = is4 | is6
    fits = is_ip & (pos + np.where(is6, 40, 20) <= end)
    header = _window(data, pos)
    first = header["first"].astype(np.int64)
    header_len = np.where(is6, 40, (first & 0x0F) << 2)
    length_field = np.where(is6, header["v6_payload"], header["v4_total"]).astype(np.int64)
    ip_end = np.where(is6, pos + 40, pos) + length_field
    bad = fits & (
        ((first >> 4) != np.where(is6, 6, 4))
        | (is4 & ((header_len < 20) | (length_field < header_len)))
    )
    good = fits & ~bad
    short = good & (ip_end > end)
    good &= ~short
    if not (good == is_ip).all():  # some IP frame is broken: say which way (rare)
        _mark(error, is4 & ~fits, TRUNCATED_IPV4)
        _mark(error, is6 & ~fits, TRUNCATED_IPV6)
        _mark(error, bad & is4, BAD_IPV4_HEADER)
        _mark(error, bad & is6, BAD_IPV6_HEADER)
        _mark(error, short & is4, TRUNCATED_IPV4)
        _mark(error, short & is6, TRUNCATED_IPV6)
    protocol = np.where(is6, header["v6_next"], header["v4_proto"]).astype(np.int64)
    frag_field = header["v4_frag"]
    fragment = is4 & ((frag_field & 0x3FFF) != 0)  # MF flag or a non-zero offset
    later_fragment = is4 & ((frag_field & 0x1FFF) != 0)
    src_hi = header["v6_src_hi"] * is6
    src_lo = np.where(is6, header["v6_src_lo"], header["v4_src"] | V4_MAPPED_LO)
    dst_hi = header["v6_dst_hi"] * is6
    dst_lo = np.where(is6, header["v6_dst_lo"], header["v4_dst"] | V4_MAPPED_LO)
    l4 = pos + header_len

    # IPv6 extension headers, walked only for the (few) rows that have one.
    walking = good & is6 & _IS_EXT[protocol & 0xFF]
    if walking.any():
        rows = np.flatnonzero(walking)
        cursor, next_header, stop_at = l4[rows], protocol[rows], ip_end[rows]
        failed = np.zeros(rows.size, dtype=np.uint8)
        is_fragment = np.zeros(rows.size, dtype=bool)
        is_later = np.zeros(rows.size, dtype=bool)
        alive = np.ones(rows.size, dtype=bool)
        for _ in range(MAX_IPV6_EXT_HEADERS):
            fits = alive & (cursor + 8 <= stop_at)
            q = np.where(fits, cursor, 0)
            head = u16[q].astype(np.int64)  # next header, length field
            size = (head & 0xFF) * _EXT_UNIT[next_header] + 8
            step = fits & (cursor + size <= stop_at)
            failed[alive & ~step] = TRUNCATED_IPV6_EXT
            frag_header = step & (next_header == IPV6_EXT_FRAGMENT)
            if frag_header.any():
                later = frag_header & ((u16[q + 2] >> 3) != 0)
                is_fragment |= frag_header
                is_later |= later
                step_on = step & ~later
            else:
                step_on = step
            next_header = np.where(step, head >> 8, next_header)
            cursor = np.where(step, cursor + size, cursor)
            # Bytes after a non-first fragment's header are payload, not more headers.
            alive = step_on & _IS_EXT[next_header]
            if not alive.any():
                break
        failed[alive] = IPV6_EXT_CHAIN_TOO_LONG
        l4[rows] = cursor
        protocol[rows] = next_header
        fragment[rows] |= is_fragment
        later_fragment[rows] |= is_later
        broken = failed != 0
        if broken.any():
            error[rows[broken]] = failed[broken]
            good[rows[broken]] = False

    # ---------------------------------------------------------------- layer 4
    has_l4 = good & ~later_fragment
    proto_byte = protocol & 0xFF
    need = _L4_HEADER[proto_byte]  # bytes the L4 header needs; 0 = not parsed
    short = has_l4 & (l4 + need > ip_end)
    if short.any():  # truncated TCP/UDP/ICMP: a verdict and a reason, no fields (rare)
        _mark(error, short & (protocol == PROTO_TCP), TRUNCATED_TCP)
        _mark(error, short & (protocol == PROTO_UDP), TRUNCATED_UDP)
        _mark(
            error, short & ((protocol == PROTO_ICMP) | (protocol == PROTO_ICMPV6)), TRUNCATED_ICMP
        )
        good &= ~short
        has_l4 &= ~short
    parsed_l4 = has_l4 & (need > 0)
    first_word = u32[np.where(parsed_l4, l4, 0)].astype(np.int64)  # ports, or ICMP type/code
    ported = parsed_l4 & _HAS_PORTS[proto_byte]
    src_port = np.where(ported, first_word >> 16, -1)
    dst_port = np.where(ported, first_word & 0xFFFF, -1)
    tcp = parsed_l4 & (protocol == PROTO_TCP)
    tcp_flags = u8[np.where(tcp, l4 + 13, 0)] * tcp
    icmp = parsed_l4 & ~ported
    icmp_type = np.where(icmp, first_word >> 24, -1)
    icmp_code = np.where(icmp, (first_word >> 16) & 0xFF, -1)

    # Rows that are not (valid) IP carry no L3/L4 fields.
    ip_version = np.where(good, np.where(is6, 6, 4), 0).astype(np.uint8)
    if not good.all():
        bad_rows = ~good
        protocol[bad_rows] = -1
        for column in (src_hi, src_lo, dst_hi, dst_lo):
            column[bad_rows] = 0
        fragment &= good
        later_fragment &= good
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


def _mark(error: np.ndarray, mask: np.ndarray, reason: int) -> None:
    """Record `reason` for the masked rows (skipping the scatter when none is set, the
    usual case for well-formed traffic)."""
    if mask.any():
        error[mask] = reason
