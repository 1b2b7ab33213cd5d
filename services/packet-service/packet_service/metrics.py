"""Prometheus exposition built from the engine's own counters at scrape time (one source of
truth, nothing added to the hot path). The HTTP side port that serves it is side_port.py."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from packet_service.classifier import VERDICT_NAMES
from packet_service.engine import Histogram, PacketEngine
from packet_service.parser import PARSE_ERROR_REASONS


def _histogram(name: str, doc: str, histogram: Histogram) -> HistogramMetricFamily:
    cumulative = histogram.counts.cumsum()
    buckets = [(repr(float(b)), int(c)) for b, c in zip(histogram.bounds, cumulative, strict=False)]
    buckets.append(("+Inf", int(cumulative[-1])))
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], buckets, sum_value=histogram.total)
    return family


class EngineCollector:
    def __init__(self, engine: PacketEngine, version: str) -> None:
        self.engine = engine
        self.version = version

    def collect(self) -> Iterator[Metric]:
        engine = self.engine
        with engine.lock:  # a consistent snapshot
            counters = engine.counters
            rule_set = engine.rules.current
            hits = rule_set.hits.copy()
            flows_active = engine.flow_table.count
            flows_evicted = engine.flow_table.evicted_total
            verdicts = counters.verdicts.copy()
            errors = counters.parse_errors.copy()
            total_bytes, batches = counters.bytes, counters.batches
            wire_bytes = counters.bytes_wire
            size_hist = _histogram("batch_size", "Frames per processed batch.", counters.batch_size)
            seconds_hist = _histogram(
                "batch_seconds", "Time to process one batch.", counters.batch_seconds
            )
        info = GaugeMetricFamily("build_info", "Build information.", labels=["version", "service"])
        info.add_metric([self.version, "packet-service"], 1)
        yield info
        family = CounterMetricFamily("packets", "Frames processed, by verdict.", labels=["verdict"])
        for code, name in VERDICT_NAMES.items():
            family.add_metric([name], int(verdicts[code]))
        yield family
        yield CounterMetricFamily(
            "bytes", "Bytes of frames processed, as captured.", value=total_bytes
        )
        yield CounterMetricFamily(
            "bytes_wire",
            "Bytes of frames processed, as on the wire (more than captured for frames cut "
            "at a capture's snap length).",
            value=wire_bytes,
        )
        yield CounterMetricFamily("batches", "Batches processed.", value=batches)
        family = CounterMetricFamily(
            "parse_errors", "Malformed or truncated frames, by reason.", labels=["reason"]
        )
        for code, reason in enumerate(PARSE_ERROR_REASONS[1:], start=1):
            family.add_metric([reason], int(errors[code]))
        yield family
        family = CounterMetricFamily(
            "rule_hits", "Frames matched per rule of the set in force.", labels=["rule"]
        )
        for compiled, count in zip(rule_set.rules, hits, strict=True):
            family.add_metric([rule_set.source.rules[compiled.index].id], int(count))
        yield family
        yield size_hist
        yield seconds_hist
        yield GaugeMetricFamily("flows_active", "Flows in the flow table.", value=flows_active)
        yield CounterMetricFamily(
            "flows_evicted", "Flows evicted (idle or table full).", value=flows_evicted
        )
        yield GaugeMetricFamily(
            "ruleset_version", "Version of the rule set in force.", value=rule_set.version
        )


def make_registry(engine: PacketEngine, version: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine, version))  # type: ignore[arg-type]
    return registry
