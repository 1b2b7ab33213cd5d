"""The per-second counter history: rows from the engine's counters, steps, bounds, rule
hits across rule-set changes, request checks. The clock is injected; nothing sleeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from packet_service import synthetic as syn
from packet_service.classifier import RuleSetHolder
from packet_service.engine import PacketEngine
from packet_service.history import (
    MAX_POINTS,
    METRICS,
    CounterHistory,
    SeriesError,
    plan_series,
    ring_bytes,
)
from packet_service.rules import Rule, RuleSet

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tcp(dport: int = 443) -> bytes:
    return syn.ethernet(syn.ipv4("10.0.0.1", "10.0.0.2", 6, syn.tcp(1000, dport, 0x10)), 0x0800)


def broken() -> bytes:
    return tcp()[:20]  # Ethernet + 6 bytes of IPv4: truncated_ipv4


def make_engine(clock: FakeClock, seconds: int = 3600, rules: RuleSet | None = None):
    holder = RuleSetHolder(clock=clock)
    if rules is not None:
        holder.replace(rules)
    return PacketEngine(rules=holder, clock=clock, history_seconds=seconds)


def feed(engine: PacketEngine, frames: list[bytes]) -> None:
    engine.process(*syn.to_batch(frames))


def series(engine, start, end, step=1, metrics=("packets",)):
    plan = plan_series(start, end, step, list(metrics), engine.clock())
    values, rule_set = engine.series(plan)
    return plan, values, rule_set


def test_each_second_gets_what_was_processed_in_it():
    clock = FakeClock(T0 + 0.5)
    engine = make_engine(clock)
    feed(engine, [tcp()] * 3)
    clock.now = T0 + 0.9
    feed(engine, [tcp()] * 2 + [broken()])
    clock.now = T0 + 3.2  # seconds T0+1 and T0+2 see nothing
    feed(engine, [tcp()] * 4)
    clock.now = T0 + 4.7  # a query in the middle of an open second sees it so far
    plan, values, _ = series(engine, T0 - 2, T0 + 6, metrics=METRICS)
    assert plan.start == T0 - 2 and plan.points == 8
    packets = values.counters["packets"]
    # before the history started and after now: not covered
    assert np.isnan(packets[:2]).all() and np.isnan(packets[7:]).all()
    assert packets[2:7].tolist() == [6, 0, 0, 4, 0]
    assert values.counters["malformed"][2:7].tolist() == [1, 0, 0, 0, 0]
    assert values.counters["parse_errors"][2] == 1
    assert values.counters["allow"][2:7].tolist() == [5, 0, 0, 4, 0]
    frame_bytes = 5 * len(tcp()) + len(broken())
    assert values.counters["bytes"][2] == frame_bytes == values.counters["bytes_wire"][2]
    assert values.history_start == T0
    # the same totals the counters report
    assert np.nansum(packets) == engine.counters.packets == 10


def test_steps_are_aligned_down_and_summed():
    clock = FakeClock(T0)
    engine = make_engine(clock)
    for second in range(25):
        clock.now = T0 + second + 0.1
        feed(engine, [tcp()] * (second + 1))
    plan, values, _ = series(engine, T0 + 3, T0 + 25, step=10)
    # T0 is a multiple of 10: steps start at T0, T0+10, T0+20
    assert plan.start == T0 and plan.points == 3
    assert values.counters["packets"].tolist() == [
        sum(range(1, 11)),
        sum(range(11, 21)),
        sum(range(21, 26)),
    ]


def test_the_ring_forgets_seconds_beyond_its_window():
    clock = FakeClock(T0)
    engine = make_engine(clock, seconds=60)
    for second in range(0, 200, 10):
        clock.now = T0 + second
        feed(engine, [tcp()])
    _, values, _ = series(engine, T0, T0 + 200)
    packets = values.counters["packets"]
    assert values.history_start == T0 + 190 - 59
    assert np.isnan(packets[:131]).all()
    covered = packets[131:191]
    assert covered.sum() == 6  # the batches at 140, 150, ..., 190
    assert covered[[9, 19, 29, 39, 49, 59]].tolist() == [1] * 6
    # a jump longer than the window leaves only zeros behind
    clock.now = T0 + 10_000
    _, values, _ = series(engine, T0 + 10_000 - 30, T0 + 10_000.5)
    assert values.counters["packets"].tolist() == [0] * 31


def test_a_clock_that_goes_back_keeps_the_open_second():
    clock = FakeClock(T0 + 5.5)
    engine = make_engine(clock)
    feed(engine, [tcp()])
    clock.now = T0 + 4.0
    feed(engine, [tcp()] * 2)
    clock.now = T0 + 5.9
    _, values, _ = series(engine, T0, T0 + 6)
    assert values.counters["packets"][5] == 3


def count_rules(*ports: int, version: int = 1) -> RuleSet:
    return RuleSet(
        version=version,
        default_action="allow",
        rules=[
            Rule(id=f"r{p}", name=f"port {p}", action="count", protocol="tcp", dst_ports=[str(p)])
            for p in ports
        ],
    )


def test_rule_hits_follow_the_set_in_force():
    clock = FakeClock(T0 + 0.2)
    engine = make_engine(clock, rules=count_rules(443, 80))
    feed(engine, [tcp(443)] * 2 + [tcp(80)])
    clock.now = T0 + 2.5
    feed(engine, [tcp(80)] * 4)
    _, values, rule_set = series(engine, T0, T0 + 3, metrics=["rule_hits"])
    assert [r.index for r in rule_set.rules] == [0, 1]
    assert values.rule_hits.tolist() == [[2, 0, 0], [1, 0, 4]]
    assert values.counters == {}
    # A new set in the middle of second 4: its counters start at its load time.
    clock.now = T0 + 4.3
    feed(engine, [tcp(443)])
    engine.rules.replace(count_rules(443, 22, 80, version=2))
    feed(engine, [tcp(22)] * 5 + [tcp(443)])
    clock.now = T0 + 6.1
    feed(engine, [tcp(80)] * 7)
    plan, values, rule_set = series(engine, T0, T0 + 7, metrics=["rule_hits", "packets"])
    assert rule_set.version == 2 and rule_set.loaded_at == T0 + 4.3
    hits = values.rule_hits
    assert hits.shape == (3, plan.points)
    assert np.isnan(hits[:, :4]).all()  # before the set was loaded
    assert hits[:, 4:].tolist() == [[1, 0, 0], [5, 0, 0], [0, 0, 7]]
    assert values.counters["packets"].tolist() == [3, 0, 4, 0, 7, 0, 7]
    assert [int(h) for h in rule_set.hits] == [1, 5, 7]


def test_a_new_set_noticed_only_after_its_second_closed():
    clock = FakeClock(T0 + 0.5)
    engine = make_engine(clock, rules=count_rules(443))
    feed(engine, [tcp(443)])
    engine.rules.replace(count_rules(80, version=2))
    feed(engine, [tcp(80)] * 3)  # same second: the history has not looked yet
    clock.now = T0 + 1.5
    feed(engine, [tcp(80)])  # closes second T0 with the new set in force
    _, values, _ = series(engine, T0, T0 + 2, metrics=["rule_hits"])
    assert values.rule_hits.tolist() == [[3, 1]]


@pytest.mark.parametrize(
    ("start", "end", "step", "metrics", "field"),
    [
        (T0, T0 + 10, 86_401, [], "step_seconds"),
        (T0, T0 + MAX_POINTS + 1, 1, [], "step_seconds"),
        (T0 + 10, T0, 1, [], "end"),
        (-5, T0, 1, [], "start"),
        (math.nan, T0, 1, [], "start"),
        (T0, math.inf, 1, [], "end"),
        (T0, T0 + 10, 1, ["packets", "bogus"], "metrics"),
    ],
)
def test_bad_requests_name_the_field(start, end, step, metrics, field):
    with pytest.raises(SeriesError) as caught:
        plan_series(start, end, step, metrics, now=T0 + 100)
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


def test_request_defaults():
    plan = plan_series(0, 0, 0, [], now=T0 + 100.5)
    assert (plan.start, plan.step, plan.points) == (T0 - 200, 1, 301)
    assert plan.metrics[-1] == "rule_hits" and len(plan.metrics) == len(METRICS) + 1
    assert plan_series(T0, T0 + MAX_POINTS, 1, [], now=T0).points == MAX_POINTS


def test_memory_is_what_the_readme_says():
    history = CounterHistory(3600, T0)
    assert history.nbytes() == ring_bytes(3600, 0) == 201_600
    assert ring_bytes(3600, 8) == 201_600 + 8 * 28_800


def test_history_seconds_setting():
    from packet_service.config import ConfigError, ServiceConfig

    assert ServiceConfig.from_env({}).history_seconds == 3600
    assert ServiceConfig.from_env({"HISTORY_SECONDS": "600"}).history_seconds == 600
    assert ServiceConfig.from_env({"HISTORY_SECONDS": "0"}).history_seconds == 0
    with pytest.raises(ConfigError, match="HISTORY_SECONDS"):
        ServiceConfig.from_env({"HISTORY_SECONDS": "-1"})
    engine = PacketEngine(history_seconds=0)
    feed(engine, [tcp()])
    assert engine.history is None and engine.counters.packets == 1
