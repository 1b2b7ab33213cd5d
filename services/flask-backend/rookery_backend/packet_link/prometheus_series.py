"""/stats/series answered from Prometheus (PROMETHEUS_URL): the path for many packet-service
instances, whose statistics meet in Prometheus. Each metric is one `query_range` over the
counters packet-service exports on /metrics (packet_service/metrics.py), summed over every
instance of the scrape job; `up` of the job says which instance is stale."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .packet_client import UpstreamUnavailable
from .stats_view import RULE_HITS, SeriesQuery, SeriesResult, TargetState

# metric of the history → (counter as exported, label matchers). The counters are those of
# packet-service's /metrics; the names are the history's (proto "Metric names").
COUNTERS: dict[str, tuple[str, str]] = {
    "packets": ("packets_total", ""),
    "allow": ("packets_total", 'verdict="allow"'),
    "drop": ("packets_total", 'verdict="drop"'),
    "malformed": ("packets_total", 'verdict="malformed"'),
    "bytes": ("bytes_total", ""),
    "bytes_wire": ("bytes_wire_total", ""),
    "parse_errors": ("parse_errors_total", ""),
    RULE_HITS: ("rule_hits_total", ""),
}


def promql(metric: str, job: str, step: int, scrape_interval: float) -> str:
    """The increase of `metric` within each step, summed over the job's instances.
    rate() over a window of at least four scrapes (and a step plus one scrape, as Grafana's
    $__rate_interval) times the step: a window of one step alone holds too few samples
    when the step is close to the scrape interval."""
    counter, matchers = COUNTERS[metric]
    selector = ",".join(part for part in (f'job="{job}"', matchers) if part)
    window = max(step + scrape_interval, 4 * scrape_interval)
    by = " by (rule)" if metric == RULE_HITS else ""
    return f"sum{by}(rate({counter}{{{selector}}}[{window:g}s])) * {step}"


@dataclass(slots=True)
class PrometheusSeries:
    url: str
    job: str = "packet-service"
    scrape_interval: float = 15.0
    timeout: float = 5.0
    clock: Callable[[], float] = time.time

    def _get(self, path: str, params: dict[str, str]) -> Any:
        address = f"{self.url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise UpstreamUnavailable(f"prometheus: HTTP {error.code} {detail}") from error
        except (OSError, ValueError) as error:
            raise UpstreamUnavailable(f"prometheus at {self.url}: {error}") from error
        if body.get("status") != "success":
            raise UpstreamUnavailable(f"prometheus: {body.get('error', 'query failed')}")
        return body["data"]

    def series(self, query: SeriesQuery, request_id: str | None = None) -> SeriesResult:
        step = query.step_seconds
        start, points = query.grid(self.clock())
        result = SeriesResult(start, step, points, query.range_seconds, "prometheus", {})
        # The value at t is the increase within (t - step, t]: the step that starts at
        # t - step, so evaluation runs from the end of the first step to the end of the last.
        params = {"start": f"{start + step:.3f}", "end": f"{start + points * step:.3f}"}
        params["step"] = str(step)
        for metric in query.metrics:
            expression = promql(metric, self.job, step, self.scrape_interval)
            data = self._get("/api/v1/query_range", {**params, "query": expression})
            if metric != RULE_HITS:
                result.lines[(metric, "")] = [None] * points
            for item in data.get("result", []):
                rule_id = item["metric"].get("rule", "") if metric == RULE_HITS else ""
                line = result.lines.setdefault((metric, rule_id), [None] * points)
                for moment, text in item.get("values", []):
                    index = round((float(moment) - step - start) / step)
                    value = float(text)
                    if 0 <= index < points and not math.isnan(value):
                        line[index] = value
                if rule_id:  # Prometheus knows only the id; the view names it
                    result.rule_names.setdefault(rule_id, "")
        result.targets = self._targets(start + points * step)
        return result

    def _targets(self, moment: float) -> list[TargetState]:
        """Every instance of the job, stale when its last scrape failed (up == 0)."""
        data = self._get("/api/v1/query", {"query": f'up{{job="{self.job}"}}', "time": str(moment)})
        states = []
        for item in data.get("result", []):
            instance = item["metric"].get("instance", "?")
            up = float(item["value"][1]) == 1.0
            error = None if up else "Prometheus cannot scrape this instance (up == 0)"
            states.append(TargetState(instance, stale=not up, error=error))
        return sorted(states, key=lambda state: state.target)
