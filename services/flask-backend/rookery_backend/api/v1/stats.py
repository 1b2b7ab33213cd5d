"""/api/v1/stats: packet statistics read from packet-service through flask-backend.
When packet-service is out of reach (down, deadline exceeded, or refusing the backend's
service credential) the last good snapshot is served marked stale (200), or 503
upstream_unavailable with the reason when there is none; every call has a deadline.
Rates and series come from packet-service's per-second history, or from Prometheus when
PROMETHEUS_URL is set, never from the difference between two API calls.

Every route takes `?ruleset_id=` (the sensors attached to that rule set) and `?sensor_id=`
(that sensor alone), and answers for the sensors the caller may see: all of them with the
global stats:read, otherwise those whose rule set the caller may read (access.py). A
series restricted to some sensors is read from those packet-services, not from Prometheus
(which knows scrape instances, not sensors)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g
from pydantic import BaseModel, Field

from ... import access
from ...errors import ApiError
from ...guard import current_principal
from ...packet_link.packet_client import PacketTarget, UpstreamUnavailable
from ...packet_link.stats_view import RULE_HITS, Answer, NoSnapshot
from ...packet_link.stats_view import SeriesQuery as SeriesWindow
from ...runtime import runtime
from .. import endpoint, parse_query, respond
from .bodies import (
    SERIES_POINTS_AUTO,
    SERIES_POINTS_MAX,
    FlowOut,
    FlowsMeta,
    Query,
    RuleHitsMeta,
    RuleHitsOut,
    SeriesMeta,
    SeriesOut,
    SeriesQuery,
    StaleMeta,
    StatsSummaryOut,
    TopFlowsQuery,
)

bp = Blueprint("stats", __name__, url_prefix="/api/v1/stats")

UNAVAILABLE = (503, "packet-service (or Prometheus) does not answer: upstream_unavailable")
NOT_FOUND = (404, "no such rule set or sensor (or a sensor the caller may not see): not_found")


class StatsFilter(Query):
    ruleset_id: int | None = Field(
        default=None, ge=1, description="only the sensors attached to this rule set"
    )
    sensor_id: int | None = Field(default=None, ge=1, description="only this sensor")


class FlowsQuery(TopFlowsQuery, StatsFilter):
    pass


class SeriesFilterQuery(SeriesQuery, StatsFilter):
    pass


def _selected(query: StatsFilter) -> tuple[list[PacketTarget], bool]:
    """The targets of the sensors asked for and visible to the caller, and whether that is
    every sensor of the deployment (no filter, no restriction)."""
    dal = runtime().dal
    link = runtime().packet_link
    sensors = link.read_sensors(dal)
    targets = link.sync(sensors)
    principal = current_principal()
    visible = access.visible_ids(principal, "sensor", "stats:read")
    if query.ruleset_id is not None:
        if dal(dal.packet_ruleset.id == query.ruleset_id).isempty() or (
            visible is not None
            and not access.allowed(principal, "stats:read", "ruleset", query.ruleset_id)
        ):
            raise ApiError(
                404,
                "not_found",
                f"no rule set with id {query.ruleset_id} (or one you may not read)",
            )
        sensors = [s for s in sensors if s.ruleset_id == query.ruleset_id]
    if query.sensor_id is not None:
        known = any(s.id == query.sensor_id for s in sensors)
        if not known or (visible is not None and query.sensor_id not in visible):
            where = " attached to that rule set" if query.ruleset_id is not None else ""
            raise ApiError(404, "not_found", f"no sensor with id {query.sensor_id}{where}")
        sensors = [s for s in sensors if s.id == query.sensor_id]
    if visible is not None:
        sensors = [s for s in sensors if s.id in visible]
    every = visible is None and query.ruleset_id is None and query.sensor_id is None
    return [targets[s.address] for s in sensors], every


def _unavailable(reasons: dict[str, str], what: str) -> ApiError:
    detail = "; ".join(f"{target}: {why}" for target, why in reasons.items())
    return ApiError(
        503,
        "upstream_unavailable",
        f"{what}: {detail}" if detail else what,
        {"reasons": reasons},
        headers={"Retry-After": "5"},
    )


def _answer(fetch: Callable[[], Answer], model: type[BaseModel]) -> Any:
    try:
        answer = fetch()
    except NoSnapshot as error:
        raise _unavailable(
            error.reasons, "packet-service does not answer and no recent statistics are known"
        ) from None
    meta = {
        **answer.meta,
        "stale": answer.stale,
        "age_seconds": answer.age_seconds,
        "reasons": answer.reasons,
    }
    return respond(answer.data, model, meta=meta)


@endpoint(
    bp,
    "/summary",
    "GET",
    "Packet totals, rates (from the per-second history), verdicts, parse errors, flows",
    response=StatsSummaryOut,
    meta=StaleMeta,
    query=StatsFilter,
    errors=(NOT_FOUND, UNAVAILABLE),
)
def summary() -> Any:
    targets, _ = _selected(parse_query(StatsFilter))
    view = runtime().packet_link.stats
    return _answer(lambda: view.summary(targets, g.get("request_id")), StatsSummaryOut)


@endpoint(
    bp,
    "/flows/top",
    "GET",
    "The largest flows by packets or bytes, a page of n (at most 1000) at a time; "
    "meta.next_page_token asks for the next page, at most 10000 flows deep",
    query=FlowsQuery,
    response=FlowOut,
    many=True,
    meta=FlowsMeta,
    errors=(NOT_FOUND, UNAVAILABLE),
)
def top_flows() -> Any:
    query = parse_query(FlowsQuery)
    targets, _ = _selected(query)
    view = runtime().packet_link.stats
    offset = query.page_token or 0
    return _answer(
        lambda: view.top_flows(targets, query.n, query.order_by, offset, g.get("request_id")),
        FlowOut,
    )


@endpoint(
    bp,
    "/rules",
    "GET",
    "Hits per rule of the rule set in force, counted since it was loaded (meta.since)",
    response=RuleHitsOut,
    many=True,
    meta=RuleHitsMeta,
    query=StatsFilter,
    errors=(NOT_FOUND, UNAVAILABLE),
)
def rule_hits() -> Any:
    targets, _ = _selected(parse_query(StatsFilter))
    view = runtime().packet_link.stats
    return _answer(lambda: view.rule_hits(targets, g.get("request_id")), RuleHitsOut)


def _window(query: SeriesQuery) -> SeriesWindow:
    range_seconds = int(query.range_seconds)
    step = query.step or max(1, math.ceil(range_seconds / SERIES_POINTS_AUTO))
    if math.ceil(range_seconds / step) > SERIES_POINTS_MAX:
        message = f"{range_seconds} s in steps of {step} s is above {SERIES_POINTS_MAX} points"
        raise ApiError(
            422, "validation_error", "invalid query: step", {"fields": {"step": message}}
        )
    return SeriesWindow(tuple(query.metric), range_seconds, step)


@endpoint(
    bp,
    "/series",
    "GET",
    "Counters over time (increase per step), summed over every packet-service, or from "
    "Prometheus when PROMETHEUS_URL is set; meta marks stale targets",
    query=SeriesFilterQuery,
    response=SeriesOut,
    meta=SeriesMeta,
    errors=(NOT_FOUND, UNAVAILABLE),
)
def series() -> Any:
    query = parse_query(SeriesFilterQuery)
    window = _window(query)
    targets, every = _selected(query)
    view = runtime().packet_link.stats
    try:
        result = view.series(targets, window, g.get("request_id"), every_target=every)
    except NoSnapshot as error:
        raise _unavailable(error.reasons, "no packet-service target answered") from None
    except UpstreamUnavailable as error:  # Prometheus out of reach
        raise _unavailable(
            {"prometheus": str(error)}, "the statistics source does not answer"
        ) from None
    if RULE_HITS in window.metrics and not all(result.rule_names.values()):
        # Prometheus knows rules by id only; flask-backend holds their names.
        dal = runtime().dal
        rows = dal(dal.packet_rule).select(dal.packet_rule.rule_id, dal.packet_rule.name)
        names = {row.rule_id: row.name for row in rows}  # rule ids are unique across sets
        for rule_id, name in result.rule_names.items():
            result.rule_names[rule_id] = name or names.get(rule_id, "")
    return respond(result.body(), SeriesOut, meta=result.meta())
