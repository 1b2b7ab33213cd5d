"""/api/v1/stats: packet statistics read from packet-service through flask-backend.
When packet-service is out of reach the last good snapshot is served marked stale (200),
or 503 upstream_unavailable when there is none; every call has a deadline."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, g
from pydantic import BaseModel, Field

from ...errors import ApiError
from ...rules.stats_view import NoSnapshot
from ...services import services
from .. import endpoint, parse_query, respond


class TopFlowsQuery(BaseModel):
    n: int = Field(default=10, ge=1, le=1000)
    order_by: Literal["packets", "bytes"] = "packets"


class StatsSummaryOut(BaseModel):
    packets_per_second: float
    packets_total: int
    bytes_total: int
    verdicts: dict[str, int]
    parse_errors: dict[str, int]
    flows_active: int
    flows_evicted_total: int
    ruleset_version: int
    targets_answered: int
    targets_total: int


class FlowOut(BaseModel):
    vlan: int | None
    src: str
    dst: str
    src_port: int
    dst_port: int
    protocol: int
    packets: int
    bytes: int
    first_seen: float
    last_seen: float
    tcp_flags: int


class RuleHitsOut(BaseModel):
    rule_id: str
    name: str
    hits: int


bp = Blueprint("stats", __name__, url_prefix="/api/v1/stats")


def _answer(fetch: Any, model: type[BaseModel], many: bool = False) -> Any:
    try:
        result = fetch()
    except NoSnapshot:
        raise ApiError(
            503,
            "upstream_unavailable",
            "packet-service does not answer and no recent statistics are known",
        ) from None
    meta = {"stale": result["stale"], "age_seconds": result["age_seconds"]}
    return respond(result["data"], model, meta=meta)


@endpoint(
    bp,
    "/summary",
    "GET",
    "Packet totals, rates, verdicts, parse errors, flows",
    response=StatsSummaryOut,
)
def summary() -> Any:
    view = services().packet_link.stats
    return _answer(lambda: view.summary(g.get("request_id")), StatsSummaryOut)


@endpoint(
    bp,
    "/flows/top",
    "GET",
    "The largest flows by packets or bytes",
    query=TopFlowsQuery,
    response=FlowOut,
    many=True,
)
def top_flows() -> Any:
    query = parse_query(TopFlowsQuery)
    view = services().packet_link.stats
    return _answer(
        lambda: view.top_flows(query.n, query.order_by, g.get("request_id")), FlowOut, many=True
    )


@endpoint(
    bp, "/rules", "GET", "Hits per rule of the rule set in force", response=RuleHitsOut, many=True
)
def rule_hits() -> Any:
    view = services().packet_link.stats
    return _answer(lambda: view.rule_hits(g.get("request_id")), RuleHitsOut, many=True)
