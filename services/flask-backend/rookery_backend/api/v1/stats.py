"""/api/v1/stats: packet statistics read from packet-service through flask-backend.
When packet-service is out of reach (down, deadline exceeded, or refusing the backend's
service credential) the last good snapshot is served marked stale (200), or 503
upstream_unavailable with the reason when there is none; every call has a deadline.
Rates and series come from packet-service's per-second history, or from Prometheus when
PROMETHEUS_URL is set, never from the difference between two API calls."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g
from pydantic import BaseModel

from ...errors import ApiError
from ...packet_link.packet_client import UpstreamUnavailable
from ...packet_link.stats_view import RULE_HITS, Answer, NoSnapshot
from ...packet_link.stats_view import SeriesQuery as SeriesWindow
from ...rules import store
from ...runtime import runtime
from .. import endpoint, parse_query, respond
from .bodies import (
    SERIES_POINTS_AUTO,
    SERIES_POINTS_MAX,
    FlowOut,
    FlowsMeta,
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
    errors=(UNAVAILABLE,),
)
def summary() -> Any:
    view = runtime().packet_link.stats
    return _answer(lambda: view.summary(g.get("request_id")), StatsSummaryOut)


@endpoint(
    bp,
    "/flows/top",
    "GET",
    "The largest flows by packets or bytes, a page of n (at most 1000) at a time; "
    "meta.next_page_token asks for the next page, at most 10000 flows deep",
    query=TopFlowsQuery,
    response=FlowOut,
    many=True,
    meta=FlowsMeta,
    errors=(UNAVAILABLE,),
)
def top_flows() -> Any:
    query = parse_query(TopFlowsQuery)
    view = runtime().packet_link.stats
    offset = query.page_token or 0
    return _answer(
        lambda: view.top_flows(query.n, query.order_by, offset, g.get("request_id")), FlowOut
    )


@endpoint(
    bp,
    "/rules",
    "GET",
    "Hits per rule of the rule set in force, counted since it was loaded (meta.since)",
    response=RuleHitsOut,
    many=True,
    meta=RuleHitsMeta,
    errors=(UNAVAILABLE,),
)
def rule_hits() -> Any:
    view = runtime().packet_link.stats
    return _answer(lambda: view.rule_hits(g.get("request_id")), RuleHitsOut)


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
    query=SeriesQuery,
    response=SeriesOut,
    meta=SeriesMeta,
    errors=(UNAVAILABLE,),
)
def series() -> Any:
    window = _window(parse_query(SeriesQuery))
    view = runtime().packet_link.stats
    try:
        result = view.series(window, g.get("request_id"))
    except NoSnapshot as error:
        raise _unavailable(error.reasons, "no packet-service target answered") from None
    except UpstreamUnavailable as error:  # Prometheus out of reach
        raise _unavailable(
            {"prometheus": str(error)}, "the statistics source does not answer"
        ) from None
    if RULE_HITS in window.metrics and not all(result.rule_names.values()):
        # Prometheus knows rules by id only; flask-backend holds their names.
        names = {rule["id"]: rule["name"] for rule in store.current(runtime().dal).rules}
        for rule_id, name in result.rule_names.items():
            result.rule_names[rule_id] = name or names.get(rule_id, "")
    return respond(result.body(), SeriesOut, meta=result.meta())
