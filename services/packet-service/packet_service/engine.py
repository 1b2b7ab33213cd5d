"""The packet pipeline every ingest path shares: parse -> classify -> flow table -> counters.

Parsing and classification run outside the lock (they only read the batch and the rule
set reference taken once per batch); the flow table and counters are updated under one
lock, so gRPC threads, the UDP listener and live capture can feed the same engine.
No grpc here.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from packet_service.classifier import (
    VERDICT_ALLOW,
    VERDICT_DROP,
    VERDICT_MALFORMED,
    RuleSetHolder,
    classify,
)
from packet_service.flow_table import FlowTable, pack_keys
from packet_service.parser import LINK_ETHERNET, PARSE_ERROR_REASONS, ParsedBatch, parse_batch
from packet_service.rules import CompiledRuleSet

# Histogram bucket upper bounds (Prometheus "le"); the last bucket is +Inf.
BATCH_SIZE_BUCKETS = (1, 16, 64, 256, 1024, 4096, 16384, 65536)
BATCH_SECONDS_BUCKETS = (1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2, 0.25)


@dataclass(slots=True)
class Histogram:
    bounds: tuple[float, ...]
    counts: np.ndarray = field(init=False)  # per bucket, not cumulative; last = +Inf
    total: float = 0.0
    observations: int = 0

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.bounds) + 1, dtype=np.int64)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # "le" buckets
        self.total += value
        self.observations += 1


@dataclass(slots=True)
class EngineCounters:
    """Totals since start. Read by GetStats and the Prometheus collector."""

    packets: int = 0
    bytes: int = 0
    batches: int = 0
    verdicts: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))
    parse_errors: np.ndarray = field(
        default_factory=lambda: np.zeros(len(PARSE_ERROR_REASONS), dtype=np.int64)
    )
    batch_size: Histogram = field(default_factory=lambda: Histogram(BATCH_SIZE_BUCKETS))
    batch_seconds: Histogram = field(default_factory=lambda: Histogram(BATCH_SECONDS_BUCKETS))


@dataclass(slots=True)
class BatchResult:
    verdicts: np.ndarray  # uint8 per frame
    bytes: int
    allow: int
    drop: int
    malformed: int
    parse_errors: int
    ruleset_version: int


# Flow accounting is deferred until this many packets are pending (or someone reads the
# table): the table's fixed cost per update is then paid per few thousand packets.
FLOW_FLUSH_PACKETS = 8192
_FLOW_COLUMNS = (
    "ip_version",
    "vlan",
    "src_hi",
    "src_lo",
    "dst_hi",
    "dst_lo",
    "src_port",
    "dst_port",
    "protocol",
    "length",
    "tcp_flags",
)


@dataclass(slots=True)
class _FlowColumns:
    """The ParsedBatch columns the flow table needs, concatenated over pending batches."""

    ip_version: np.ndarray
    vlan: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    src_port: np.ndarray
    dst_port: np.ndarray
    protocol: np.ndarray
    length: np.ndarray
    tcp_flags: np.ndarray


class PacketEngine:
    def __init__(
        self,
        rules: RuleSetHolder | None = None,
        flow_table: FlowTable | None = None,
        track_flows: bool = True,
    ) -> None:
        self.rules = rules or RuleSetHolder()
        self._flow_table = flow_table or FlowTable()
        self.track_flows = track_flows
        self.counters = EngineCounters()
        self.lock = threading.RLock()
        self.started_at = time.time()
        # Batches whose flows are not in the table yet: their parsed columns (fresh arrays
        # owned by the batch) and a copy of their timestamps. Keys are packed at flush
        # time, once per few thousand packets.
        self._pending: list[tuple[ParsedBatch, np.ndarray | float]] = []
        self._pending_packets = 0

    @property
    def flow_table(self) -> FlowTable:
        """The flow table with every processed packet accounted (pending ones flushed)."""
        with self.lock:
            self._flush_flows()
            return self._flow_table

    def _flush_flows(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._pending_packets = self._pending, [], 0
        if len(pending) == 1:
            self._update_flows(*pending[0])
            return
        columns = {
            name: np.concatenate([getattr(parsed, name) for parsed, _ in pending])
            for name in _FLOW_COLUMNS
        }
        times = np.concatenate(
            [
                np.full(len(parsed), stamp) if isinstance(stamp, float) else stamp
                for parsed, stamp in pending
            ]
        )
        self._update_flows(_FlowColumns(**columns), times)

    def _update_flows(self, parsed, times: np.ndarray | float) -> None:
        """Account the IP rows of `parsed` (non-IP and malformed rows have no flow)."""
        rows = np.flatnonzero(parsed.ip_version)
        if not rows.size:
            return
        times = np.full(rows.size, times) if isinstance(times, float) else times[rows]
        keys = pack_keys(
            parsed.ip_version[rows],
            parsed.vlan[rows],
            parsed.src_hi[rows],
            parsed.src_lo[rows],
            parsed.dst_hi[rows],
            parsed.dst_lo[rows],
            parsed.src_port[rows],
            parsed.dst_port[rows],
            parsed.protocol[rows],
        )
        self._flow_table.update(keys, parsed.length[rows], times, parsed.tcp_flags[rows])

    def process(
        self,
        data: np.ndarray,
        offsets: np.ndarray,
        timestamps: np.ndarray | None = None,
        link_type: int = LINK_ETHERNET,
    ) -> BatchResult:
        """Classify and account one batch. `offsets` must already be validated."""
        began = time.perf_counter()
        rule_set = self.rules.current  # one set for the whole batch
        parsed = parse_batch(data, offsets, link_type)
        verdicts, hits = classify(parsed, rule_set)
        tally = np.bincount(verdicts, minlength=4)
        batch_bytes = int(parsed.length.sum())
        # Well-formed traffic has no errors: skip the histogram of reasons then.
        errors = (
            np.bincount(parsed.error, minlength=len(PARSE_ERROR_REASONS))
            if tally[VERDICT_MALFORMED]
            else None
        )
        with self.lock:
            if self.track_flows:
                self._account_flows(parsed, timestamps)
            rule_set.hits += hits
            counters = self.counters
            counters.packets += len(parsed)
            counters.bytes += batch_bytes
            counters.batches += 1
            counters.verdicts += tally
            if errors is not None:
                counters.parse_errors += errors
            counters.batch_size.observe(len(parsed))
            counters.batch_seconds.observe(time.perf_counter() - began)
        return BatchResult(
            verdicts=verdicts,
            bytes=batch_bytes,
            allow=int(tally[VERDICT_ALLOW]),
            drop=int(tally[VERDICT_DROP]),
            malformed=int(tally[VERDICT_MALFORMED]),
            parse_errors=int(tally[VERDICT_MALFORMED]),
            ruleset_version=rule_set.version,
        )

    def _account_flows(self, parsed: ParsedBatch, timestamps: np.ndarray | None) -> None:
        """Queue the batch for the flow table; the table is updated once enough packets
        are pending (or someone reads it)."""
        count = len(parsed)
        if self._pending_packets + count > FLOW_FLUSH_PACKETS:
            self._flush_flows()
        # The caller may reuse its timestamp buffer (slots): keep a copy.
        stamp = time.time() if timestamps is None else np.array(timestamps, dtype=np.float64)
        if count >= FLOW_FLUSH_PACKETS:  # a big batch goes straight in
            self._update_flows(parsed, stamp)
            return
        self._pending.append((parsed, stamp))
        self._pending_packets += count
        if self._pending_packets == FLOW_FLUSH_PACKETS:
            self._flush_flows()

    def rule_set(self) -> CompiledRuleSet:
        return self.rules.current
