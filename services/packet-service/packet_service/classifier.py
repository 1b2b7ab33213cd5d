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


def _address_match(
    family: np.ndarray, hi: np.ndarray, lo: np.ndarray, cidrs: list[Cidr]
) -> np.ndarray:
    match = np.zeros(hi.shape[0], dtype=bool)
    for c in cidrs:
        term = family == c.family
        if c.mask_hi:
            term &= (hi & np.uint64(c.mask_hi)) == np.uint64(c.net_hi)
        if c.mask_lo:
            term &= (lo & np.uint64(c.mask_lo)) == np.uint64(c.net_lo)
        match |= term
    return match


def _port_match(port: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    match = np.zeros(port.shape[0], dtype=bool)
    for low, high in ranges:
        match |= (port >= low) & (port <= high)
    return match


def rule_matches(rule: CompiledRule, batch: ParsedBatch) -> np.ndarray:
    """Mask of the rows the rule matches (every term ANDed; an empty term matches all)."""
    match = np.ones(len(batch), dtype=bool)
    if rule.protocol != ANY:
        match &= batch.protocol == rule.protocol
    if rule.vlan != ANY:
        match &= batch.vlan == rule.vlan
    if rule.src:
        match &= _address_match(batch.ip_version, batch.src_hi, batch.src_lo, rule.src)
    if rule.dst:
        match &= _address_match(batch.ip_version, batch.dst_hi, batch.dst_lo, rule.dst)
    if rule.src_ports.shape[0]:
        match &= _port_match(batch.src_port, rule.src_ports)
    if rule.dst_ports.shape[0]:
        match &= _port_match(batch.dst_port, rule.dst_ports)
    return match


def classify(batch: ParsedBatch, rule_set: CompiledRuleSet) -> tuple[np.ndarray, np.ndarray]:
    """(verdicts uint8 per row, hits int64 per compiled rule). Malformed rows get
    VERDICT_MALFORMED and consult no rule. The caller adds `hits` to the set's counters."""
    n = len(batch)
    verdicts = np.full(n, rule_set.default_verdict, dtype=np.uint8)
    hits = np.zeros(len(rule_set.rules), dtype=np.int64)
    undecided = batch.error == 0
    verdicts[~undecided] = VERDICT_MALFORMED
    for position, rule in enumerate(rule_set.rules):
        if not undecided.any():
            break
        hit = rule_matches(rule, batch)
        hit &= undecided
        hits[position] = np.count_nonzero(hit)
        if rule.action != ACTION_COUNT:
            verdicts[hit] = rule.action  # ACTION_ALLOW/DROP share the verdict codes
            undecided &= ~hit
    return verdicts, hits


class RuleSetHolder:
    """The rule set in force. Readers take `current` once per batch, so a batch sees one
    set from start to end; `replace` swaps the reference (atomic in CPython)."""

    def __init__(self, initial: CompiledRuleSet | None = None) -> None:
        self.current: CompiledRuleSet = initial or compile_rule_set(RuleSet())
        self._write_lock = threading.Lock()
        self.loaded_by_caller = initial is not None

    def replace(self, rule_set: RuleSet) -> CompiledRuleSet:
        compiled = compile_rule_set(rule_set)  # raises before anything changes
        with self._write_lock:
            self.current = compiled
            self.loaded_by_caller = True
        return compiled
