"""Ordered first-match rule evaluation over a parsed batch.

`classify` evaluates the rule set's lookup tables (rule_tables.py): a few numpy calls
per eight rules, whatever the number of CIDRs and port ranges. `classify_reference`
keeps the plain one-mask-per-term form as the oracle it is tested against. Loops run over
rules, never over packets. No grpc here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from packet_service.parser import ParsedBatch
from packet_service.rule_tables import ChunkTables, SideTable
from packet_service.rules import (
    ACTION_COUNT,
    ANY,
    Cidr,
    CompiledRule,
    CompiledRuleSet,
    RuleSet,
    compile_rule_set,
)

VERDICT_ALLOW, VERDICT_DROP, VERDICT_MALFORMED = 1, 2, 3
VERDICT_NAMES = {VERDICT_ALLOW: "allow", VERDICT_DROP: "drop", VERDICT_MALFORMED: "malformed"}


class _Terms:
    """Per-batch cache of term masks: rules that share a protocol, VLAN, CIDR or port
    range compute it once per batch."""

    def __init__(self, batch: ParsedBatch) -> None:
        self.batch = batch
        self.cache: dict[tuple, np.ndarray] = {}

    def protocol(self, value: int) -> np.ndarray:
        key = ("protocol", value)
        if key not in self.cache:
            self.cache[key] = self.batch.protocol == value
        return self.cache[key]

    def vlan(self, value: int) -> np.ndarray:
        key = ("vlan", value)
        if key not in self.cache:
            self.cache[key] = self.batch.vlan == value
        return self.cache[key]

    def family(self, value: int) -> np.ndarray:
        key = ("family", value)
        if key not in self.cache:
            self.cache[key] = self.batch.ip_version == value
        return self.cache[key]

    def addresses(self, side: str, cidrs: list[Cidr]) -> np.ndarray:
        key = (side, *((c.family, c.net_hi, c.net_lo, c.mask_hi, c.mask_lo) for c in cidrs))
        if key in self.cache:
            return self.cache[key]
        hi = self.batch.src_hi if side == "src" else self.batch.dst_hi
        lo = self.batch.src_lo if side == "src" else self.batch.dst_lo
        match = None
        for c in cidrs:
            term = self.family(c.family)
            if c.mask_hi:
                term = term & ((hi & np.uint64(c.mask_hi)) == np.uint64(c.net_hi))
            if c.mask_lo:
                term = term & ((lo & np.uint64(c.mask_lo)) == np.uint64(c.net_lo))
            match = term if match is None else match | term
        self.cache[key] = match
        return match

    def ports(self, side: str, ranges: np.ndarray) -> np.ndarray:
        key = (side, ranges.tobytes())
        if key in self.cache:
            return self.cache[key]
        port = self.batch.src_port if side == "src" else self.batch.dst_port
        match = None
        for low, high in ranges.tolist():
            term = port == low if low == high else (port >= low) & (port <= high)
            match = term if match is None else match | term
        self.cache[key] = match
        return match


def _rule_mask(rule: CompiledRule, terms: _Terms) -> np.ndarray | None:
    """Mask of the rows the rule matches; None = every row (a rule without terms)."""
    parts = []
    if rule.protocol != ANY:
        parts.append(terms.protocol(rule.protocol))
    if rule.vlan != ANY:
        parts.append(terms.vlan(rule.vlan))
    if rule.src:
        parts.append(terms.addresses("src", rule.src))
    if rule.dst:
        parts.append(terms.addresses("dst", rule.dst))
    if rule.src_ports.shape[0]:
        parts.append(terms.ports("src", rule.src_ports))
    if rule.dst_ports.shape[0]:
        parts.append(terms.ports("dst", rule.dst_ports))
    if not parts:
        return None
    match = parts[0]
    for part in parts[1:]:
        match = match & part
    return match


def rule_matches(rule: CompiledRule, batch: ParsedBatch) -> np.ndarray:
    """Mask of the rows the rule matches (every term ANDed; an empty term matches all)."""
    mask = _rule_mask(rule, _Terms(batch))
    return np.ones(len(batch), dtype=bool) if mask is None else mask


def classify_reference(
    batch: ParsedBatch, rule_set: CompiledRuleSet
) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward form: one mask per rule term, rules in order. `classify` must
    agree with it on every batch (a property test checks); kept as that oracle."""
    n = len(batch)
    verdicts = np.full(n, rule_set.default_verdict, dtype=np.uint8)
    hits = np.zeros(len(rule_set.rules), dtype=np.int64)
    undecided = batch.error == 0
    np.putmask(verdicts, ~undecided, VERDICT_MALFORMED)
    terms = _Terms(batch)
    for position, rule in enumerate(rule_set.rules):
        mask = _rule_mask(rule, terms)
        hit = undecided.copy() if mask is None else mask & undecided
        count = int(np.count_nonzero(hit))
        if not count:
            continue
        hits[position] = count
        if rule.action != ACTION_COUNT:
            np.putmask(verdicts, hit, rule.action)  # ACTION_ALLOW/DROP = verdict codes
            undecided &= ~hit
            if count == n or not undecided.any():
                break
    return verdicts, hits


class _Keys:
    """Per-batch address keys shared by every chunk: IPv4 rows' mapped low word (0 on
    other rows, which no IPv4 CIDR covers) and the IPv6 row mask."""

    __slots__ = ("_is4", "_is6", "_v4", "batch")

    def __init__(self, batch: ParsedBatch) -> None:
        self.batch = batch
        self._v4: dict[str, np.ndarray] = {}
        self._is4: np.ndarray | None = None
        self._is6: np.ndarray | None = None

    def v4(self, side: str) -> np.ndarray:
        key = self._v4.get(side)
        if key is None:
            if self._is4 is None:  # shared by both sides
                self._is4 = self.batch.ip_version == 4
            lo = self.batch.src_lo if side == "src" else self.batch.dst_lo
            key = lo * self._is4  # a multiply costs a third of np.where here
            self._v4[side] = key
        return key

    def is6(self) -> np.ndarray:
        if self._is6 is None:
            self._is6 = self.batch.ip_version == 6
        return self._is6


def _side_bits(table: SideTable, side: str, keys: _Keys) -> np.ndarray | int:
    bits: np.ndarray | int = table.any_bits
    if table.v4_bounds is not None:
        at = np.searchsorted(table.v4_bounds, keys.v4(side), side="right")
        bits = table.v4_bits[at] | np.uint8(bits)
    elif table.v4_prefixes:
        key = keys.v4(side)
        for mask, net, prefix_bits in table.v4_prefixes:
            bits = ((key & mask) == net).view(np.uint8) * prefix_bits | bits
    if table.v6_bounds is not None or table.v6_prefixes or table.long_v6:
        batch = keys.batch
        hi = batch.src_hi if side == "src" else batch.dst_hi
        six: np.ndarray | int = 0
        if table.v6_bounds is not None:
            six = table.v6_bits[np.searchsorted(table.v6_bounds, hi, side="right")]
        for mask, net, prefix_bits in table.v6_prefixes:
            six = ((hi & mask) == net).view(np.uint8) * prefix_bits | six
        lo = batch.src_lo if side == "src" else batch.dst_lo
        for prefix in table.long_v6:
            match = ((hi & prefix.mask_hi) == prefix.net_hi) & (
                (lo & prefix.mask_lo) == prefix.net_lo
            )
            six = match.view(np.uint8) * prefix.bits | six
        # Rows that are not IPv6 have a zero high word: mask them only when some IPv6
        # CIDR on this side covers that value (::/0, ::ffff:0:0/96, ...).
        if table.v6_covers_zero:
            six = six * keys.is6()
        bits = six | bits
    return bits


def _chunk_bits(chunk: ChunkTables, batch: ParsedBatch, keys: _Keys) -> np.ndarray:
    """uint8 per row: bit j set when rule j of the chunk matches the row."""
    bits: np.ndarray | None = None
    for table, column in (
        (chunk.protocol, batch.protocol),
        (chunk.dst_port, batch.dst_port),
        (chunk.src_port, batch.src_port),
        (chunk.vlan, batch.vlan),
    ):
        if table is not None:
            if bits is None:
                bits = table[column]
            else:
                bits &= table[column]
    for side_table, side in ((chunk.src, "src"), (chunk.dst, "dst")):
        if side_table is not None:
            side_bits = _side_bits(side_table, side, keys)
            if bits is None:
                bits = np.broadcast_to(side_bits, len(batch)).astype(np.uint8)
            else:
                bits &= side_bits
    if bits is None:  # every rule of the chunk matches every row
        bits = np.full(len(batch), (1 << chunk.rule_count) - 1, dtype=np.uint8)
    return bits


def classify(batch: ParsedBatch, rule_set: CompiledRuleSet) -> tuple[np.ndarray, np.ndarray]:
    """(verdicts uint8 per row, hits int64 per compiled rule). Malformed rows get
    VERDICT_MALFORMED and consult no rule. The caller adds `hits` to the set's counters.

    Table-driven (rule_tables.py): per chunk of eight rules a handful of gathers give
    every row its match bits, and first-match order is one more gather. Equal to
    `classify_reference` row for row."""
    tables = rule_set.tables
    n = len(batch)
    malformed = batch.error != 0
    any_malformed = np.count_nonzero(malformed) > 0  # cheaper than .any() on a batch
    if not tables.chunks:
        verdicts = np.full(n, tables.default_verdict, dtype=np.uint8)
        if any_malformed:
            verdicts[malformed] = VERDICT_MALFORMED
        return verdicts, np.zeros(0, dtype=np.int64)
    keys = _Keys(batch)
    decided: np.ndarray | None = None  # uint8 0 / terminal action per row so far
    hit_parts = []
    for chunk in tables.chunks:
        bits = _chunk_bits(chunk, batch, keys)
        if any_malformed:
            bits[malformed] = 0
        if decided is not None:
            bits *= decided == 0  # rows a previous chunk decided reach no further rule
            decided |= chunk.verdict.take(bits)
        else:
            decided = chunk.verdict.take(bits)
        hit_parts.append(np.bincount(bits, minlength=256) @ chunk.hit_matrix)
    # take(): a uint8 index array costs fancy indexing three times an int64 one
    verdicts = tables.final.take(decided)
    if any_malformed:
        verdicts[malformed] = VERDICT_MALFORMED
    hits = hit_parts[0] if len(hit_parts) == 1 else np.concatenate(hit_parts)
    return verdicts, hits


class RuleSetHolder:
    """The rule set in force. Readers take `current` once per batch, so a batch sees one
    set from start to end; `replace` swaps the reference (atomic in CPython)."""

    def __init__(
        self, initial: CompiledRuleSet | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock  # stamps loaded_at (the start of a set's hit counters)
        self.current: CompiledRuleSet = initial or compile_rule_set(RuleSet(), clock())
        self._write_lock = threading.Lock()
        self.published = False  # True once replace() (SetRules) installed a set

    def replace(self, rule_set: RuleSet) -> CompiledRuleSet:
        compiled = compile_rule_set(rule_set, self.clock())  # raises before anything changes
        with self._write_lock:
            self.current = compiled
            self.published = True
        return compiled
