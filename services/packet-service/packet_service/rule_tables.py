"""Lookup tables that let the classifier evaluate a whole rule set in a few numpy calls.

Rules are taken eight at a time (a "chunk"); rule j of a chunk is bit j of a uint8. For
every term there is a table indexed by the packet's field whose entry says which rules of
the chunk accept that value: protocol (256 values + "absent"), outer VLAN (4096 +
untagged), source and destination port (65536 + "no ports"). Address terms become
interval tables: the CIDRs of one side cut the address line into intervals, each with
the bits of the rules whose CIDR list covers it, so one `searchsorted` answers every CIDR
at once (IPv4 on the mapped low word, IPv6 prefixes up to /64 on the high word; longer
IPv6 prefixes, which are rare, are compared one by one). A row's match bits are the AND
of its term bits; `verdict[bits]` and `reached[bits]` (first terminal rule, rules up to
and including it) are 256-entry tables, so first-match order and count rules cost one
gather each. Built once per rule set, before the atomic swap. No grpc here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from packet_service.rules import Cidr, CompiledRule

CHUNK_RULES = 8
FEW_PREFIXES = 4  # up to this many CIDRs of a family on a side: compared one by one
_ANY = -1
_ACTION_COUNT = 3
_TOP64 = (1 << 64) - 1


@dataclass(slots=True)
class LongPrefix:
    """An IPv6 CIDR longer than /64: compared word by word (rare)."""

    net_hi: np.uint64
    net_lo: np.uint64
    mask_hi: np.uint64
    mask_lo: np.uint64
    bits: np.uint8


@dataclass(slots=True)
class SideTable:
    """Address matching of one side (source or destination) for one chunk."""

    any_bits: int  # rules of the chunk without a CIDR on this side
    v4_bounds: np.ndarray | None  # uint64 interval starts over the mapped low word
    v4_bits: np.ndarray | None  # uint8, len(v4_bounds) + 1 (entry 0: below every start)
    v6_bounds: np.ndarray | None  # uint64 interval starts over the high word
    v6_bits: np.ndarray | None
    long_v6: list[LongPrefix] = field(default_factory=list)
    v6_covers_zero: bool = True  # some IPv6 CIDR matches a zero high word
    # A side with only a few CIDRs of a family compares them one by one (a masked compare
    # per CIDR is cheaper than a binary search per row): (mask, net, bits) triples.
    v4_prefixes: list[tuple[np.uint64, np.uint64, np.uint8]] = field(default_factory=list)
    v6_prefixes: list[tuple[np.uint64, np.uint64, np.uint8]] = field(default_factory=list)


@dataclass(slots=True)
class ChunkTables:
    rule_count: int  # rules in this chunk (1-8)
    protocol: np.ndarray | None  # uint8 [257]: index = protocol, -1 (last) = not IP
    vlan: np.ndarray | None  # uint8 [4097]: index = outer VLAN id, -1 (last) = untagged
    src_port: np.ndarray | None  # uint8 [65537]: index = port, -1 (last) = no ports
    dst_port: np.ndarray | None
    src: SideTable | None
    dst: SideTable | None
    verdict: np.ndarray  # uint8 [256]: action of the first terminal rule set in bits, 0 none
    reached: np.ndarray  # uint8 [256]: the bits up to and including that first terminal rule
    hit_matrix: np.ndarray  # int64 [256, rule_count]: rule j counted for a row with bits b


@dataclass(slots=True)
class RuleTables:
    chunks: list[ChunkTables]
    default_verdict: int
    final: np.ndarray  # uint8 [4]: 0 (no terminal match) -> default, 1/2 stay


def _value_table(size: int, rules: list[CompiledRule], accepts) -> np.ndarray | None:
    """Table of `size` values + 1 "absent" entry (index -1); None when every rule of
    the chunk accepts every value (the term is then skipped per batch)."""
    table = np.zeros(size + 1, dtype=np.uint8)
    constrained = False
    for bit, rule in enumerate(rules):
        accepted = accepts(rule)
        if accepted is None:
            table |= np.uint8(1 << bit)
        else:
            constrained = True
            table[accepted] |= np.uint8(1 << bit)
    return table if constrained else None


def _port_values(ranges: np.ndarray) -> np.ndarray | None:
    if ranges.shape[0] == 0:
        return None
    accepted = np.zeros(65537, dtype=bool)
    for low, high in ranges.tolist():
        accepted[low : high + 1] = True
    return accepted


def _interval_table(spans: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(starts, bits) over a 64-bit line from inclusive (low, high, bits) spans: row i of
    `bits` holds the OR of spans covering [starts[i-1], starts[i]); entry 0 is below all."""
    points = sorted(
        {low for low, _, _ in spans} | {high + 1 for _, high, _ in spans if high < _TOP64}
    )
    bits = [0]
    for point in points:
        covering = 0
        for low, high, span_bits in spans:
            if low <= point <= high:
                covering |= span_bits
        bits.append(covering)
    return np.array(points, dtype=np.uint64), np.array(bits, dtype=np.uint8)


def _side_table(rules: list[CompiledRule], side: str) -> SideTable | None:
    any_bits = 0
    v4_spans: list[tuple[int, int, int]] = []
    v6_spans: list[tuple[int, int, int]] = []
    v4_prefixes: list[tuple[np.uint64, np.uint64, np.uint8]] = []
    v6_prefixes: list[tuple[np.uint64, np.uint64, np.uint8]] = []
    long_v6: list[LongPrefix] = []
    for bit, rule in enumerate(rules):
        cidrs: list[Cidr] = rule.src if side == "src" else rule.dst
        if not cidrs:
            any_bits |= 1 << bit
            continue
        for c in cidrs:
            if c.family == 4:  # prefix >= 96: the high word is 0, the low word decides
                v4_spans.append((c.net_lo, c.net_lo | (~c.mask_lo & _TOP64), 1 << bit))
                v4_prefixes.append((np.uint64(c.mask_lo), np.uint64(c.net_lo), np.uint8(1 << bit)))
            elif c.mask_lo == 0:  # /64 or shorter: the high word decides
                v6_spans.append((c.net_hi, c.net_hi | (~c.mask_hi & _TOP64), 1 << bit))
                v6_prefixes.append((np.uint64(c.mask_hi), np.uint64(c.net_hi), np.uint8(1 << bit)))
            else:
                long_v6.append(
                    LongPrefix(
                        np.uint64(c.net_hi),
                        np.uint64(c.net_lo),
                        np.uint64(c.mask_hi),
                        np.uint64(c.mask_lo),
                        np.uint8(1 << bit),
                    )
                )
    if any_bits == (1 << len(rules)) - 1:
        return None
    v4_bounds = v4_bits = v6_bounds = v6_bits = None
    if len(v4_spans) > FEW_PREFIXES:
        v4_bounds, v4_bits = _interval_table(v4_spans)
        v4_prefixes = []
    if len(v6_spans) > FEW_PREFIXES:
        v6_bounds, v6_bits = _interval_table(v6_spans)
        v6_prefixes = []
    covers_zero = any(low == 0 for low, _, _ in v6_spans) or any(
        int(p.net_hi) == 0 for p in long_v6
    )
    return SideTable(
        any_bits,
        v4_bounds,
        v4_bits,
        v6_bounds,
        v6_bits,
        long_v6,
        covers_zero,
        v4_prefixes,
        v6_prefixes,
    )


def _chunk_tables(rules: list[CompiledRule]) -> ChunkTables:
    terminal = [rule.action != _ACTION_COUNT for rule in rules]
    verdict = np.zeros(256, dtype=np.uint8)
    reached = np.zeros(256, dtype=np.uint8)
    for bits in range(1 << len(rules)):
        upto = bits
        for j, rule in enumerate(rules):
            if bits >> j & 1 and terminal[j]:
                verdict[bits] = rule.action
                upto = bits & ((2 << j) - 1)
                break
        reached[bits] = upto
    hit_matrix = ((reached[:, None] >> np.arange(len(rules), dtype=np.uint8)) & 1).astype(np.int64)
    return ChunkTables(
        rule_count=len(rules),
        protocol=_value_table(256, rules, lambda r: None if r.protocol == _ANY else [r.protocol]),
        vlan=_value_table(4096, rules, lambda r: None if r.vlan == _ANY else [r.vlan]),
        src_port=_value_table(65536, rules, lambda r: _port_values(r.src_ports)),
        dst_port=_value_table(65536, rules, lambda r: _port_values(r.dst_ports)),
        src=_side_table(rules, "src"),
        dst=_side_table(rules, "dst"),
        verdict=verdict,
        reached=reached,
        hit_matrix=hit_matrix,
    )


def build_rule_tables(rules: list[CompiledRule], default_verdict: int) -> RuleTables:
    chunks = [
        _chunk_tables(rules[begin : begin + CHUNK_RULES])
        for begin in range(0, len(rules), CHUNK_RULES)
    ]
    final = np.array([default_verdict, 1, 2, 3], dtype=np.uint8)
    return RuleTables(chunks=chunks, default_verdict=default_verdict, final=final)
