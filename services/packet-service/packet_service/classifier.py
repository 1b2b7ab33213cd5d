"""Ordered first-match rule evaluation over a parsed batch, one numpy mask per rule term.

The loop is over rules (tens), never over packets. No grpc here.
"""

from __future__ import annotations

import threading

import numpy as np

from packet_service.parser import ParsedBatch
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


def classify(batch: ParsedBatch, rule_set: CompiledRuleSet) -> tuple[np.ndarray, np.ndarray]:
    """(verdicts uint8 per row, hits int64 per compiled rule). Malformed rows get
    VERDICT_MALFORMED and consult no rule. The caller adds `hits` to the set's counters."""
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


class RuleSetHolder:
    """The rule set in force. Readers take `current` once per batch, so a batch sees one
    set from start to end; `replace` swaps the reference (atomic in CPython)."""

    def __init__(self, initial: CompiledRuleSet | None = None) -> None:
        self.current: CompiledRuleSet = initial or compile_rule_set(RuleSet())
        self._write_lock = threading.Lock()
        self.published = False  # True once replace() (SetRules) installed a set

    def replace(self, rule_set: RuleSet) -> CompiledRuleSet:
        compiled = compile_rule_set(rule_set)  # raises before anything changes
        with self._write_lock:
            self.current = compiled
            self.published = True
        return compiled
