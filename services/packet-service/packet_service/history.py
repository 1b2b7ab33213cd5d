"""Bounded per-second history of the engine's counters, and series queries over it.

The history never sees a packet. The engine's counters are already cumulative, so the
history only notes their values when a second ends (the first batch of a new second, or a
query): the increase since the previous note is that second's row. A batch therefore
costs one clock read and one compare; a second boundary costs a few small numpy copies.

Storage is preallocated rings of int64, one row per second: `seconds` x 7 counters
(56 bytes a second, 201,600 bytes an hour) plus `seconds` x rules for the per-rule hits
of the rule set in force (8 bytes per rule a second, 28,800 bytes per rule an hour). The
rule ring is replaced when a new set comes into force: its counters start at zero then.
No grpc here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Column order of the counter ring (and of the totals the engine hands over).
METRICS = ("packets", "bytes", "bytes_wire", "allow", "drop", "malformed", "parse_errors")
RULE_HITS = "rule_hits"
SERIES_METRICS = (*METRICS, RULE_HITS)
MAX_POINTS = 10_000
MAX_STEP_SECONDS = 86_400
DEFAULT_SPAN_SECONDS = 300


def ring_bytes(seconds: int, rules: int) -> int:
    """Ring memory of a history of `seconds` with `rules` enabled rules in force."""
    return seconds * 8 * (len(METRICS) + rules)


class SeriesError(ValueError):
    """A series request the history cannot answer; `field` names the request field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(slots=True)
class SeriesPlan:
    """A validated request: `points` steps of `step` seconds from `start` (aligned)."""

    start: int
    step: int
    points: int
    metrics: tuple[str, ...]


def plan_series(
    start: float, end: float, step: int, metrics: list[str] | tuple[str, ...], now: float
) -> SeriesPlan:
    """Defaults and checks of a series request (0 = the documented default)."""
    step = step or 1
    if not 1 <= step <= MAX_STEP_SECONDS:
        raise SeriesError("step_seconds", f"{step} is outside 1-{MAX_STEP_SECONDS}")
    if not math.isfinite(end) or end < 0:
        raise SeriesError("end", f"{end} is not Unix seconds")
    if not math.isfinite(start) or start < 0:
        raise SeriesError("start", f"{start} is not Unix seconds")
    end = end or now
    start = start or end - DEFAULT_SPAN_SECONDS
    if end <= start:
        raise SeriesError("end", f"{end} is not after start {start}")
    aligned = math.floor(start / step) * step
    points = math.ceil((end - aligned) / step)
    if points > MAX_POINTS:
        raise SeriesError(
            "step_seconds",
            f"{points} points of {step} s between start and end; at most {MAX_POINTS} "
            "(a larger step or a shorter range)",
        )
    unknown = [name for name in metrics if name not in SERIES_METRICS]
    if unknown:
        raise SeriesError(
            "metrics", f"unknown metric {unknown[0]!r}; known: {', '.join(SERIES_METRICS)}"
        )
    chosen = tuple(dict.fromkeys(metrics)) if metrics else SERIES_METRICS
    return SeriesPlan(start=aligned, step=step, points=points, metrics=chosen)


@dataclass(slots=True)
class SeriesValues:
    """Per requested metric one float64 array of `points` values (NaN = not covered);
    `rule_hits` is (rules, points) in the column order of the rule set's hits."""

    counters: dict[str, np.ndarray]
    rule_hits: np.ndarray | None
    history_start: int


class CounterHistory:
    """Not thread-safe: the engine calls it under its lock."""

    def __init__(self, seconds: int, now: float) -> None:
        if seconds < 1:
            raise ValueError("a history needs at least one second")
        self.seconds = seconds
        self.counters = np.zeros((seconds, len(METRICS)), dtype=np.int64)
        self.first_second = math.floor(now)
        self.second = self.first_second  # the second being accumulated (still open)
        self._mark = np.zeros(len(METRICS), dtype=np.int64)  # totals when it opened
        self.rules_key: object = None
        self.rules_since = now
        self.rule_hits = np.zeros((seconds, 0), dtype=np.int64)
        self._rule_mark = np.zeros(0, dtype=np.int64)

    def nbytes(self) -> int:
        return self.counters.nbytes + self.rule_hits.nbytes

    # ------------------------------------------------------------ recording

    def _follow_rules(self, key: object, rule_totals: np.ndarray, since: float) -> None:
        if key is self.rules_key:
            return
        # A new set: its hits all happened while the open second was open (every earlier
        # second was closed by a batch or query that still saw the old set), so they
        # count from zero into the open second.
        self.rules_key = key
        self.rules_since = since
        self.rule_hits = np.zeros((self.seconds, rule_totals.shape[0]), dtype=np.int64)
        self._rule_mark = np.zeros(rule_totals.shape[0], dtype=np.int64)

    def advance(
        self,
        second: int,
        totals: np.ndarray,
        rules_key: object,
        rule_totals: np.ndarray,
        rules_since: float,
    ) -> None:
        """Close the open second (its row = the increase of `totals` since it opened)
        and every second up to `second`, which becomes the open one. A clock that went
        back keeps the open second open."""
        self._follow_rules(rules_key, rule_totals, rules_since)
        if second <= self.second:
            return
        size = self.seconds
        row = self.second % size
        self.counters[row] = totals - self._mark
        self.rule_hits[row] = rule_totals - self._rule_mark
        # Seconds without a batch saw no traffic: zero, not "unknown".
        if second - self.second > size:
            self.counters[:] = 0
            self.rule_hits[:] = 0
        else:
            quiet = np.arange(self.second + 1, second + 1) % size
            self.counters[quiet] = 0
            self.rule_hits[quiet] = 0
        self._mark = totals.copy()
        self._rule_mark = rule_totals.copy()
        self.second = second

    def sync(
        self,
        now: float,
        totals: np.ndarray,
        rules_key: object,
        rule_totals: np.ndarray,
        rules_since: float,
    ) -> None:
        """Bring the rings up to `now`, the open second's row included (for a query)."""
        self.advance(math.floor(now), totals, rules_key, rule_totals, rules_since)
        row = self.second % self.seconds
        self.counters[row] = totals - self._mark
        self.rule_hits[row] = rule_totals - self._rule_mark

    # ------------------------------------------------------------ queries

    def history_start(self) -> int:
        return max(self.first_second, self.second - self.seconds + 1)

    def query(self, plan: SeriesPlan) -> SeriesValues:
        """Sums per step of the seconds the history covers (call sync() first)."""
        oldest = self.history_start()
        columns = [METRICS.index(name) for name in plan.metrics if name != RULE_HITS]
        summed = self._steps(self.counters, columns, plan, oldest)
        counters = {METRICS[c]: summed[:, i] for i, c in enumerate(columns)}
        rule_hits = None
        if RULE_HITS in plan.metrics:
            since = max(oldest, math.floor(self.rules_since))
            every_rule = list(range(self.rule_hits.shape[1]))
            rule_hits = self._steps(self.rule_hits, every_rule, plan, since).T
        return SeriesValues(counters=counters, rule_hits=rule_hits, history_start=oldest)

    def _steps(
        self, ring: np.ndarray, columns: list[int], plan: SeriesPlan, oldest: int
    ) -> np.ndarray:
        """(points, len(columns)) float64: per step the sum of its covered seconds; NaN
        for a step none of whose seconds is covered."""
        out = np.full((plan.points, len(columns)), np.nan)
        first = max(plan.start, oldest)
        last = min(plan.start + plan.points * plan.step - 1, self.second)
        if first > last or not columns:
            return out
        seconds = np.arange(first, last + 1, dtype=np.int64)
        values = ring[seconds % self.seconds][:, columns]
        step_of = (seconds - plan.start) // plan.step
        starts = np.flatnonzero(np.diff(step_of, prepend=-1))
        out[step_of[starts]] = np.add.reduceat(values, starts, axis=0)
        return out
