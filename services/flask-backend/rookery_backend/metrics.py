"""Prometheus metrics on a registry owned by the app (several apps can live in one test
process without clashing on the global registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily


class PoolCollector:
    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self.stats = stats

    def collect(self):  # type: ignore[no-untyped-def]
        stats = self.stats()
        family = GaugeMetricFamily(
            "db_pool_connections", "Database connections by state", labels=["state"]
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
            "build_info", "Build information", ["version", "service"], registry=self.registry
        )
        build.labels(version=version, service="flask-backend").set(1)

    def watch_pool(self, stats: Callable[[], dict[str, int]]) -> None:
        self.registry.register(PoolCollector(stats))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
