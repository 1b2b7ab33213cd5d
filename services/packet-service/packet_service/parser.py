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

# Mask tests use np.count_nonzero: a third of the cost of .any()/.all() on the small
# arrays of a batch, and a parse makes a dozen of them.

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
# Per ethertype: the IP version it stands for; per version: the minimum network header
# (non-IP: more than any blob, so it never "fits").
_IP_VERSION = np.zeros(1 << 16, dtype=np.uint8)
_IP_VERSION[[ETH_IPV4, ETH_IPV6]] = (4, 6)
_FIRST = np.arange(256)
# Per first header byte: the header length (IHL * 4 for IPv4, 40 for version 6) and the
# family it can start (4: version 4 with IHL >= 5, 6: version 6, 255: neither).
_HEADER_BYTES = np.where(_FIRST >> 4 == 6, 40, (_FIRST & 0x0F) << 2).astype(np.int64)
_FIRST_FAMILY = np.where(
    (_FIRST >> 4 == 4) & ((_FIRST & 0x0F) >= 5), 4, np.where(_FIRST >> 4 == 6, 6, 255)
).astype(np.uint8)
# Per ethertype (not per family: gathers indexed by a uint8 column cost three times
# those indexed by an int64 one).
_MIN_HEADER = np.full(1 << 16, 1 << 40, dtype=np.int64)
_MIN_HEADER[[ETH_IPV4, ETH_IPV6]] = (20, 40)


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
    ports: np.ndarray  # int64 src port << 16 | dst port, 0 without ports (the flow key's)
    tcp_flags: np.ndarray  # uint8, 0 when not TCP
    l4_word: np.ndarray  # int64 first 4 bytes of the parsed L4 header (ports / ICMP type+code)
    icmp: np.ndarray  # bool: an ICMP/ICMPv6 header was parsed (icmp_type/code are valid)
    fragment: np.ndarray  # bool: part of a fragmented IP packet
    later_fragment: np.ndarray  # bool: a non-first fragment, which carries no L4 header

    def __len__(self) -> int:
        return int(self.length.shape[0])

    # ICMP type and code are for reports, not the hot path: derived on demand.
    @property
    def icmp_type(self) -> np.ndarray:
        """int64, -1 when not ICMP/ICMPv6."""
        return np.where(self.icmp, self.l4_word >> 24, -1)

    @property
    def icmp_code(self) -> np.ndarray:
        return np.where(self.icmp, (self.l4_word >> 16) & 0xFF, -1)


def offsets_from_bytes(raw: bytes | memoryview) -> np.ndarray:
    """(n, 2) uint32 view of little-endian (start, length) pairs; caller checks len % 8."""
    return np.frombuffer(raw, dtype="<u4").reshape(-1, 2)


def validate_offsets(offsets: np.ndarray, blob_size: int) -> str | None:
    """Why the offsets table does not fit the blob, or None when every frame lies inside it."""
    if offsets.shape[0] == 0:
        return None
    ends = offsets[:, 0].astype(np.int64) + offsets[:, 1]
    if ends.max() <= blob_size:  # the usual case: one reduction, no index list
        return None
    bad = np.flatnonzero(ends > blob_size)
    if bad.size:
        i = int(bad[0])
        return (
            f"frame {i} (start {int(offsets[i, 0])}, length {int(offsets[i, 1])}) ends past "
            f"the {blob_size}-byte blob"
        )
    return None


def _views(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Big-endian 1/2/4-byte words starting at EVERY byte offset of the blob (stride 1),
    so reading a field at any position is one gather instead of one per byte."""
    size = data.shape[0]
    return (
        data,
        np.ndarray((size - 1,), dtype=">u2", buffer=data, strides=(1,)),
        np.ndarray((size - 3,), dtype=">u4", buffer=data, strides=(1,)),
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
_RECORD = np.dtype((np.void, _WINDOW))  # the same bytes, copied as one opaque item


def _window(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """_HEADER record per row, copied from `data` at `pos` (one gather of a stride-1 view
    whose items are whole 40-byte records: copied at once, not byte by byte). Rows too
    close to the blob's end read a zero-padded copy of its tail instead, so nothing is
    ever read outside the blob."""
    size = data.shape[0]
    last = size - _WINDOW
    records = np.ndarray((last + 1,), dtype=_RECORD, buffer=data, strides=(1,))
    if int(pos.max(initial=0)) <= last:  # the usual case: no row near the end
        return records[pos].view(_HEADER)
    window = records[np.minimum(pos, last)]
    near_end = np.flatnonzero(pos > last)
    tail = np.zeros(2 * _WINDOW, dtype=np.uint8)
    tail[:_WINDOW] = data[last:]
    tail_records = np.ndarray((_WINDOW + 1,), dtype=_RECORD, buffer=tail, strides=(1,))
    window[near_end] = tail_records[np.minimum(pos[near_end] - last, _WINDOW)]
    return window.view(_HEADER)


_absent_cache = np.full(0, -1, dtype=np.int64)


def _absent(n: int) -> np.ndarray:
    """A fresh int64 column of n "absent" (-1) values: a copy of a slice of one shared
    array (a third of np.full's cost on a batch)."""
    global _absent_cache
    cache = _absent_cache
    if cache.shape[0] < n:
        cache = np.full(max(n, 2 * cache.shape[0], 1024), -1, dtype=np.int64)
        _absent_cache = cache  # a reference swap: concurrent readers keep the old one
    return cache[:n].copy()


def parse_batch(
    data: np.ndarray,
    offsets: np.ndarray,
    link_type: int = LINK_ETHERNET,
    wire_lengths: np.ndarray | None = None,
) -> ParsedBatch:
    """Parse every frame of the batch. `offsets` must already fit `data` (validate_offsets).

    `wire_lengths` are the frames' lengths on the wire when a capture kept only the first
    bytes of each (a snap length); None = every frame is whole. A frame cut that way is
    parsed as far as its captured headers go: its IP length fields are checked against
    the wire length (they describe the packet, not the capture), its header reads against
    the captured bytes. A frame that is not cut is checked exactly as before.

    Every gather index is either proven (by a mask) to lie inside its frame or replaced by 0
    first; error masks are built so that a frame fails at most once (first problem wins).
    """
    n = offsets.shape[0]
    if data.shape[0] < _MIN_BLOB:  # keep masked-out reads (index 0..15) inside the blob
        padded = np.zeros(_MIN_BLOB, dtype=np.uint8)
        padded[: data.shape[0]] = data
        data = padded
    u8, u16, u32 = _views(data)
    start = offsets[:, 0].astype(np.int64)
    length = offsets[:, 1].astype(np.int64)
    end = start + length
    wire_end = end  # where the frame ended on the wire
    snap_cut = False
    if wire_lengths is not None:
        cut = wire_lengths > length
        if np.count_nonzero(cut):
            snap_cut = True
            wire_end = np.where(cut, start + wire_lengths, end)
    error = np.zeros(n, dtype=np.uint8)

    # ---------------------------------------------------------------- layer 2
    vlan = _absent(n)
    inner_vlan = _absent(n)
    if link_type == LINK_RAW:
        has_byte = length >= 1
        nibble = u8[np.where(has_byte, start, 0)] >> 4
        ethertype = np.where(nibble == 4, ETH_IPV4, np.where(nibble == 6, ETH_IPV6, 0))
        ethertype[~has_byte] = 0
        _mark(error, ethertype == 0, BAD_IP_VERSION)
        pos = start
    else:
        eth_ok = length >= 14
        if np.count_nonzero(eth_ok) == n:
            ethertype = u16[start + 12].astype(np.int64)
        else:
            error[~eth_ok] = TRUNCATED_ETHERNET
            ethertype = u16[np.where(eth_ok, start + 12, 0)].astype(np.int64)
            ethertype[~eth_ok] = 0
        pos = start + 14
        # Tagged frames are a minority: walk the tags on that subset only.
        rows = np.flatnonzero(_IS_TPID[ethertype])
        for depth in range(MAX_VLAN_TAGS):
            if rows.size == 0:
                break
            at = pos[rows]
            tag_ok = at + 4 <= end[rows]
            if np.count_nonzero(tag_ok) != tag_ok.shape[0]:
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
    family = _IP_VERSION[ethertype]  # 4, 6, or 0 (not IP)
    is4 = family == 4
    is6 = family == 6
    fits = pos + _MIN_HEADER[ethertype] <= end  # never for non-IP rows
    header = _window(data, pos)
    first = header["first"].astype(np.intp)  # indexes two tables: widened once
    # Tables by the first header byte alone: a row whose version nibble disagrees with
    # its ethertype is bad, so its (wrong-family) header length never counts.
    header_len = _HEADER_BYTES[first]
    length_field = np.where(is6, header["v6_payload"], header["v4_total"]).astype(np.int64)
    ip_end = pos + length_field + is6 * 40  # v4: total length; v6: 40 + payload length
    bad = fits & ((_FIRST_FAMILY[first] != family) | (is4 & (length_field < header_len)))
    good = fits & ~bad & (ip_end <= wire_end)
    if np.count_nonzero(good) != np.count_nonzero(family):
        # some IP frame is broken: say which way (rare)
        short = fits & ~bad & (ip_end > wire_end)
        _mark(error, is4 & ~fits, TRUNCATED_IPV4)
        _mark(error, is6 & ~fits, TRUNCATED_IPV6)
        _mark(error, bad & is4, BAD_IPV4_HEADER)
        _mark(error, bad & is6, BAD_IPV6_HEADER)
        _mark(error, short & is4, TRUNCATED_IPV4)
        _mark(error, short & is6, TRUNCATED_IPV6)
    protocol = np.where(is6, header["v6_next"], header["v4_proto"]).astype(np.int64)
    frag_field = header["v4_frag"] & 0x3FFF  # MF flag and offset
    fragment = is4 & (frag_field != 0)
    later_fragment = is4 & ((frag_field & 0x1FFF) != 0)  # a non-zero offset
    l4 = pos + header_len
    # Headers past this point must lie inside the IP packet and inside what was captured
    # (the same thing unless the frame was cut at a snap length).
    read_end = np.minimum(ip_end, end) if snap_cut else ip_end

    # IPv6 extension headers, walked only for the (few) rows that have one; a row leaves
    # the walk as soon as its chain ends, so each step works on the rows still walking.
    walking = good & is6 & _IS_EXT[protocol]
    if np.count_nonzero(walking):
        _walk_ipv6_extensions(
            u16,
            np.flatnonzero(walking),
            l4,
            protocol,
            read_end,
            error,
            good,
            fragment,
            later_fragment,
        )

    # ---------------------------------------------------------------- layer 4
    has_l4 = good & ~later_fragment
    need = _L4_HEADER[protocol]  # bytes the L4 header needs; 0 = not parsed
    short = has_l4 & (l4 + need > read_end)
    if np.count_nonzero(short):  # truncated TCP/UDP/ICMP: a verdict and a reason, no fields (rare)
        _mark(error, short & (protocol == PROTO_TCP), TRUNCATED_TCP)
        _mark(error, short & (protocol == PROTO_UDP), TRUNCATED_UDP)
        _mark(
            error, short & ((protocol == PROTO_ICMP) | (protocol == PROTO_ICMPV6)), TRUNCATED_ICMP
        )
        good &= ~short
        has_l4 &= ~short
    parsed_l4 = has_l4 & (need > 0)
    first_word = u32[l4 * parsed_l4].astype(np.int64)  # ports, or ICMP type/code
    ported = parsed_l4 & _HAS_PORTS[protocol]
    src_port = np.where(ported, first_word >> 16, -1)
    dst_port = np.where(ported, first_word & 0xFFFF, -1)
    ports = first_word * ported
    tcp = parsed_l4 & (protocol == PROTO_TCP)
    tcp_flags = u8[(l4 + 13) * tcp] * tcp

    # Rows that are not (valid) IP carry no L3/L4 fields.
    ip_version = family * good
    good6 = is6 & good
    src_hi = header["v6_src_hi"] * good6
    dst_hi = header["v6_dst_hi"] * good6
    src_lo = np.where(is6, header["v6_src_lo"], header["v4_src"] | V4_MAPPED_LO) * good
    dst_lo = np.where(is6, header["v6_dst_lo"], header["v4_dst"] | V4_MAPPED_LO) * good
    protocol = np.where(good, protocol, -1)
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
        ports=ports,
        tcp_flags=tcp_flags,
        l4_word=first_word,
        icmp=parsed_l4 & ~ported,
        fragment=fragment,
        later_fragment=later_fragment,
    )


def _walk_ipv6_extensions(
    u16: np.ndarray,
    rows: np.ndarray,
    l4: np.ndarray,
    protocol: np.ndarray,
    ip_end: np.ndarray,
    error: np.ndarray,
    good: np.ndarray,
    fragment: np.ndarray,
    later_fragment: np.ndarray,
) -> None:
    """Step `rows` through their extension headers, updating the columns in place: l4 and
    protocol end at the upper-layer header; broken chains get a reason and lose `good`."""
    cursor, next_header, stop_at = l4[rows], protocol[rows], ip_end[rows]
    last_word = u16.shape[0] - 1
    for _ in range(MAX_IPV6_EXT_HEADERS):
        # A header that does not fit ends past stop_at whatever its length byte says
        # (its size is at least 8), so one check covers both; the clamp only keeps the
        # read of such a (failing) row inside the blob.
        head = u16[np.minimum(cursor, last_word)].astype(np.int64)  # next header, length
        after = cursor + (head & 0xFF) * _EXT_UNIT[next_header] + 8
        inside = after <= stop_at
        if np.count_nonzero(inside) != inside.shape[0]:
            _truncated(rows[~inside], error, good)
            rows, cursor, next_header, head, after = (
                rows[inside],
                cursor[inside],
                next_header[inside],
                head[inside],
                after[inside],
            )
            stop_at = stop_at[inside]
        frag_header = next_header == IPV6_EXT_FRAGMENT
        next_header = head >> 8
        more = _IS_EXT[next_header]
        if np.count_nonzero(frag_header):
            later = frag_header & ((u16[cursor + 2] >> 3) != 0)
            fragment[rows[frag_header]] = True
            later_fragment[rows[later]] = True
            more &= ~later  # a non-first fragment's payload is not more headers
        cursor = after
        if np.count_nonzero(more) != more.shape[0]:
            done = ~more
            l4[rows[done]] = cursor[done]
            protocol[rows[done]] = next_header[done]
            rows, cursor, next_header, stop_at = (
                rows[more],
                cursor[more],
                next_header[more],
                stop_at[more],
            )
        if not rows.size:
            return
    error[rows] = IPV6_EXT_CHAIN_TOO_LONG
    good[rows] = False


def _truncated(rows: np.ndarray, error: np.ndarray, good: np.ndarray) -> None:
    error[rows] = TRUNCATED_IPV6_EXT
    good[rows] = False


def _mark(error: np.ndarray, mask: np.ndarray, reason: int) -> None:
    """Record `reason` for the masked rows (skipping the scatter when none is set, the
    usual case for well-formed traffic)."""
    if np.count_nonzero(mask):
        error[mask] = reason
