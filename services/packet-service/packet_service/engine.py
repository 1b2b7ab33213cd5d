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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from packet_service.classifier import (
    VERDICT_ALLOW,
    VERDICT_DROP,
    VERDICT_MALFORMED,
    RuleSetHolder,
    classify,
)
from packet_service.flow_table import KEY_WORDS, FlowTable, pack_key_columns
from packet_service.history import CounterHistory, SeriesPlan, SeriesValues
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
    bytes: int = 0  # as captured
    bytes_wire: int = 0  # as on the wire (differs for frames cut at a snap length)
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
    bytes_wire: int
    allow: int
    drop: int
    malformed: int
    parse_errors: int
    ruleset_version: int


# Flow accounting is deferred until this many packets are pending (or someone reads the
# table): the table's fixed cost per update is then paid per few thousand packets.
FLOW_FLUSH_PACKETS = 16384


class PacketEngine:
    def __init__(
        self,
        rules: RuleSetHolder | None = None,
        flow_table: FlowTable | None = None,
        track_flows: bool = True,
        clock: Callable[[], float] = time.time,
        history_seconds: int = 3600,
    ) -> None:
        self.rules = rules or RuleSetHolder(clock=clock)
        self._flow_table = flow_table or FlowTable()
        self.track_flows = track_flows
        self.counters = EngineCounters()
        self.lock = threading.RLock()
        self.clock = clock  # Unix seconds: frames without timestamps, the history
        self.started_at = clock()
        # 0 = no history (the `ingest` command has no use for one).
        self.history = CounterHistory(history_seconds, self.started_at) if history_seconds else None
        # Pending-flow buffers, preallocated and filled in place while each batch's
        # columns are still in cache; the table is updated once per FLOW_FLUSH_PACKETS.
        # Keys are held as five contiguous word columns (see pack_key_columns).
        self._pending = 0
        self._pending_keys = np.zeros((KEY_WORDS, FLOW_FLUSH_PACKETS), dtype=np.uint64)
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
        # Frames that are not IP have no flow: the table skips them (`counted`) rather
        # than the batch being compacted first.
        self._flow_table.update(
            [word[:count] for word in self._pending_keys],
            self._pending_lengths[:count],
            self._pending_times[:count],
            self._pending_flags[:count],
            counted=self._pending_ip[:count],
        )

    def process(
        self,
        data: np.ndarray,
        offsets: np.ndarray,
        timestamps: np.ndarray | None = None,
        link_type: int = LINK_ETHERNET,
        wire_lengths: np.ndarray | None = None,
    ) -> BatchResult:
        """Classify and account one batch. `offsets` must already be validated.
        `wire_lengths` (per frame, >= the captured length) are the frames' lengths on the
        wire where a capture cut them at a snap length; None = as captured."""
        began = time.perf_counter()
        rule_set = self.rules.current  # one set for the whole batch
        parsed = parse_batch(data, offsets, link_type, wire_lengths)
        verdicts, hits = classify(parsed, rule_set)
        tally = np.bincount(verdicts, minlength=4)
        batch_bytes = int(parsed.length.sum())
        wire = parsed.length if wire_lengths is None else wire_lengths
        wire_bytes = batch_bytes if wire_lengths is None else int(wire_lengths.sum())
        # Well-formed traffic has no errors: skip the histogram of reasons then.
        errors = (
            np.bincount(parsed.error, minlength=len(PARSE_ERROR_REASONS))
            if tally[VERDICT_MALFORMED]
            else None
        )
        with self.lock:
            history = self.history
            if history is not None:
                second = int(self.clock())
                if second > history.second:  # the first batch of a new second closes the last
                    self._advance_history(history, second)
            if self.track_flows:
                self._account_flows(parsed, timestamps, wire)
            rule_set.hits += hits
            counters = self.counters
            counters.packets += len(parsed)
            counters.bytes += batch_bytes
            counters.bytes_wire += wire_bytes
            counters.batches += 1
            counters.verdicts += tally
            if errors is not None:
                counters.parse_errors += errors
            counters.batch_size.observe(len(parsed))
            counters.batch_seconds.observe(time.perf_counter() - began)
        return BatchResult(
            verdicts=verdicts,
            bytes=batch_bytes,
            bytes_wire=wire_bytes,
            allow=int(tally[VERDICT_ALLOW]),
            drop=int(tally[VERDICT_DROP]),
            malformed=int(tally[VERDICT_MALFORMED]),
            parse_errors=int(tally[VERDICT_MALFORMED]),
            ruleset_version=rule_set.version,
        )

    def _account_flows(
        self, parsed: ParsedBatch, timestamps: np.ndarray | None, wire: np.ndarray
    ) -> None:
        """Append the batch to the pending-flow buffers; the table is updated once enough
        packets are pending (or someone reads it). Flows count wire bytes, as tshark's
        conversations do."""
        count = len(parsed)
        if self._pending + count > FLOW_FLUSH_PACKETS:
            self._flush_flows()
        if count > FLOW_FLUSH_PACKETS:  # a huge batch goes straight in
            keys = _flow_keys(parsed)
            times = np.full(count, self.clock()) if timestamps is None else timestamps
            self._flow_table.update(
                list(keys), wire, times, parsed.tcp_flags, counted=parsed.ip_version
            )
            return
        at = slice(self._pending, self._pending + count)
        _flow_keys(parsed, out=self._pending_keys[:, at])
        self._pending_ip[at] = parsed.ip_version
        self._pending_lengths[at] = wire
        self._pending_times[at] = self.clock() if timestamps is None else timestamps
        self._pending_flags[at] = parsed.tcp_flags
        self._pending += count
        if self._pending == FLOW_FLUSH_PACKETS:
            self._flush_flows()

    def rule_set(self) -> CompiledRuleSet:
        return self.rules.current

    # ---------------------------------------------------------------- history

    def _history_totals(self) -> np.ndarray:
        """The counters in the history's column order (history.METRICS)."""
        c = self.counters
        return np.array(
            [
                c.packets,
                c.bytes,
                c.bytes_wire,
                c.verdicts[VERDICT_ALLOW],
                c.verdicts[VERDICT_DROP],
                c.verdicts[VERDICT_MALFORMED],
                c.parse_errors[1:].sum(),
            ],
            dtype=np.int64,
        )

    def _advance_history(self, history: CounterHistory, second: int) -> None:
        rule_set = self.rules.current
        history.advance(second, self._history_totals(), rule_set, rule_set.hits, rule_set.loaded_at)

    def series(self, plan: SeriesPlan) -> tuple[SeriesValues, CompiledRuleSet]:
        """The history over `plan`, up to now, with the rule set its rule_hits belong to."""
        if self.history is None:
            raise RuntimeError("this engine keeps no history")
        with self.lock:
            rule_set = self.rules.current
            self.history.sync(
                self.clock(), self._history_totals(), rule_set, rule_set.hits, rule_set.loaded_at
            )
            return self.history.query(plan), rule_set


def _flow_keys(parsed: ParsedBatch, out: np.ndarray | None = None) -> np.ndarray:
    """(5, n) flow-key columns of a parsed batch (rows that are not IP get keys no flow
    has: their protocol is -1)."""
    return pack_key_columns(
        parsed.ip_version,
        parsed.vlan,
        parsed.src_hi,
        parsed.src_lo,
        parsed.dst_hi,
        parsed.dst_lo,
        parsed.ports,
        parsed.protocol,
        out=out,
    )
