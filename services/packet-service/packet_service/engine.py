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
from packet_service.flow_table import KEY_WORDS, FlowTable, pack_keys
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
        # Pending-flow buffers, preallocated and filled in place while each batch's
        # columns are still in cache; the table is updated once per FLOW_FLUSH_PACKETS.
        self._pending = 0
        self._pending_keys = np.zeros((FLOW_FLUSH_PACKETS, KEY_WORDS), dtype=np.uint64)
        self._pending_key_records = self._pending_keys.view(np.dtype((np.void, 8 * KEY_WORDS)))[
            :, 0
        ]
        self._pending_lengths = np.zeros(FLOW_FLUSH_PACKETS, dtype=np.int64)
        self._pending_times = np.zeros(FLOW_FLUSH_PACKETS, dtype=np.float64)
        self._pending_flags = np.zeros(FLOW_FLUSH_PACKETS, dtype=np.uint8)
        self._pending_ip = np.zeros(FLOW_FLUSH_PACKETS, dtype=np.uint8)

    @property
    def flow_table(self) -> FlowTable:
        """The flow table with every processed packet accounted (pending ones flushed)."""
        with self.lock:
            self._flush_flows()
            return self._flow_table

    def _flush_flows(self) -> None:
        if not self._pending:
            return
        count, self._pending = self._pending, 0
        rows = np.flatnonzero(self._pending_ip[:count])  # IP rows only: others have no flow
        if rows.size:
            # Keys gathered as whole 40-byte records (a (n, 5) uint64 gather copies word
            # by word, about twice as slow).
            keys = self._pending_key_records[rows].view(np.uint64).reshape(-1, KEY_WORDS)
            self._flow_table.update(
                keys,
                self._pending_lengths[rows],
                self._pending_times[rows],
                self._pending_flags[rows],
            )

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
        """Append the batch to the pending-flow buffers; the table is updated once enough
        packets are pending (or someone reads it)."""
        count = len(parsed)
        if self._pending + count > FLOW_FLUSH_PACKETS:
            self._flush_flows()
        if count > FLOW_FLUSH_PACKETS:  # a huge batch goes straight in
            rows = np.flatnonzero(parsed.ip_version)
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
            times = np.full(rows.size, time.time()) if timestamps is None else timestamps[rows]
            self._flow_table.update(keys, parsed.length[rows], times, parsed.tcp_flags[rows])
            return
        at = slice(self._pending, self._pending + count)
        pack_keys(
            parsed.ip_version,
            parsed.vlan,
            parsed.src_hi,
            parsed.src_lo,
            parsed.dst_hi,
            parsed.dst_lo,
            parsed.src_port,
            parsed.dst_port,
            parsed.protocol,
            out=self._pending_keys[at],
        )
        self._pending_ip[at] = parsed.ip_version
        self._pending_lengths[at] = parsed.length
        self._pending_times[at] = time.time() if timestamps is None else timestamps
        self._pending_flags[at] = parsed.tcp_flags
        self._pending += count
        if self._pending == FLOW_FLUSH_PACKETS:
            self._flush_flows()

    def rule_set(self) -> CompiledRuleSet:
        return self.rules.current
