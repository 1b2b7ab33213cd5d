"""Prometheus metrics on a registry owned by the app (several apps can live in one test
process without clashing on the global registry).

Several worker processes (server.py): the supervisor gives every process of one run the
same fresh PROMETHEUS_MULTIPROC_DIR, prometheus_client's multiprocess mode writes each
process's counters and histograms there, and /metrics — answered by whichever worker —
adds them all up (gauges: build_info the maximum, rule_publisher_active the sum over live
processes). The database pool gauges are the answering worker's own."""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)

class PoolCollector:
    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self.stats = stats

    def collect(self):  # type: ignore[no-untyped-def]
        stats = self.stats()
        family = GaugeMetricFamily(
            "db_pool_connections",
            "Database connections by state (of the process that answered)",
            labels=["state"],
        )
        family.add_metric(["idle"], stats["idle"])
        family.add_metric(["in_use"], stats["in_use"])
        yield family
        yield GaugeMetricFamily(
            "db_pool_size", "Configured database pool size (0 = no pooling)", value=stats["size"]
        )


class Metrics:
    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Collectors that read this process's own state (never written to the shared dir)
        self.local = CollectorRegistry(auto_describe=True)
        self.shared_dir = multiprocess_dir()
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.auth_events = Counter(
            "auth_events", "Authentication events", ["event"], registry=self.registry
        )
        build = Gauge(
            "build_info",
            "Build information",
            ["version", "service"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        build.labels(version=version, service="flask-backend").set(1)
        self.publisher_active = Gauge(
            "rule_publisher_active",
            "1 while a process of this replica holds the publisher lease and runs the rule"
            " publisher (summed over the deployment: exactly 1)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def watch_pool(self, stats: Callable[[], dict[str, int]]) -> None:
        self.local.register(PoolCollector(stats))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # The labelled children, kept: `labels()` validates and locks on every call, and
        # a route/method/status set is small (the route table times a few statuses).
        # A method outside HTTP's own is OTHER: any token a client sends would otherwise
        # be a new series (a file per worker in multiprocess mode, read by every scrape).
        if method not in HTTP_METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        if self.shared_dir is None:
            return generate_latest(self.registry) + generate_latest(self.local)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.shared_dir)
        return generate_latest(merged) + generate_latest(self.local)
